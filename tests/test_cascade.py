"""The reverse waterfall: the issue's worked numbers, the time shift, measured assumptions against
plain references and the demo's truth, plan rules, target coherence and the CLI."""

from __future__ import annotations

import itertools
import json
import math
from collections import Counter
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from missionline.cli.cascade import register_cascade_commands
from missionline.demo import _params as P
from missionline.demo.generator import generate_company, write_company
from missionline.errors import MissionlineError
from missionline.metrics.funnel import funnel
from missionline.plan.check import check_plan
from missionline.plan.loader import plan_from_text
from missionline.planning import measure
from missionline.planning.assumptions import Step, point_lag
from missionline.planning.cascade import cascade, requirements, whole
from missionline.planning.coherence import target_coherence
from missionline.planning.ladder import ladder
from missionline.workspace import Workspace

from conftest import load_fixture, write

ISSUE_PLAN = """
company: Check
mission: {statement: Grow., horizon: {start: 2025-01-01, end: 2025-12-31}}
functions: [{id: marketing, name: Marketing}, {id: sales, name: Sales}]
success_factors:
  - {id: bookings, name: Bookings, metric: bookings, target: 40000000, period: year, unit: USD}
metrics:
  bookings: {measure: won_amount, kind: new}
cascade:
  assumptions:
    deal_size: 150000
    conversion: {inquiry: 0.10, mql: 0.85, sal: 0.60, sql: 0.30}
    lag_days: {inquiry: 14, mql: 7, sal: 21, sql: 60}
lifecycle:
  stages:
    - {id: inquiry, name: Inquiry, owner: marketing, next: [mql]}
    - {id: mql, name: MQL, owner: marketing, next: [sal]}
    - {id: sal, name: SAL, owner: sales, next: [sql]}
    - {id: sql, name: SQL, owner: sales, next: [won]}
    - {id: won, name: Won, owner: sales, record_type: opportunity, terminal: true}
"""

FIXTURE_PLAN = """
company: Fixture
mission: {statement: Grow., horizon: {start: 2024-01-01, end: 2024-12-31}}
functions: [{id: marketing, name: Marketing}, {id: sales, name: Sales}]
segments:
  - {id: computing, name: Computing, priority: 1}
  - {id: transportation, name: Transportation, priority: 2}
success_factors:
  - {id: bookings, name: Bookings, metric: bookings, target: 3000, period: quarter, unit: USD}
  - {id: revenue, name: Revenue, metric: revenue, target: 10, period: quarter, unit: USD}
metrics:
  bookings: {measure: won_amount, kind: new}
  revenue: {measure: revenue}
lifecycle:
  stages:
    - {id: lead, name: Lead, owner: marketing, next: [mql, disqualified]}
    - {id: mql, name: MQL, owner: marketing, next: [sal, sql, recycled]}
    - {id: sal, name: SAL, owner: sales, next: [sql]}
    - {id: sql, name: SQL, owner: sales, next: [opportunity]}
    - {id: opportunity, name: Opp, owner: sales, record_type: opportunity, next: [won, lost]}
    - {id: won, name: Won, owner: sales, record_type: opportunity, terminal: true}
    - {id: lost, name: Lost, record_type: opportunity, exit: lost}
    - {id: disqualified, name: Disqualified, exit: disqualified}
    - {id: recycled, name: Recycled, exit: recycled, next: [mql]}
"""
STEPS = [("lead", "mql"), ("mql", "sal"), ("sal", "sql"), ("sql", "opportunity")]
STEPS.append(("opportunity", "won"))


def workspace_from(tmp: Path, text: str) -> Workspace:
    """A new workspace with the plan ``text``."""
    return Workspace.init(tmp / "ws", str(write(tmp / "plan.yaml", text)))


@pytest.fixture(scope="module")
def empty(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """A workspace without data: every number comes from the plan under test."""
    ws = Workspace.init(tmp_path_factory.mktemp("cascade_empty") / "ws")
    yield ws  # type: ignore[misc]
    ws.close()


@pytest.fixture(scope="module")
def fixture_ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """The conftest's awkward company under a plan with a horizon and a bookings target."""
    tmp = tmp_path_factory.mktemp("cascade_fixture")
    ws = workspace_from(tmp, FIXTURE_PLAN)
    load_fixture(ws, tmp / "files")
    yield ws  # type: ignore[misc]
    ws.close()


DEMO_LEADS, DEMO_SEED, DEMO_MONTHS = 30_000, 3, 36


def demo_folder(factory: pytest.TempPathFactory) -> Path:
    """A 30,000-lead, 36-month demo company, generated and imported once per test session.

    The cascade, pacing and scenario tests share it (read only): ``data/`` holds the files and
    ``truth.json``, ``ws/`` the workspace.
    """
    folder = factory.getbasetemp() / "cascade_demo"
    if not (folder / "imported").exists():
        company = generate_company(DEMO_LEADS, DEMO_SEED, months=DEMO_MONTHS)
        write_company(company, folder / "data")
        with Workspace.init(folder / "ws", "demo") as ws:
            ws.import_files([folder / "data"])
        (folder / "imported").touch()
    return folder


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """The shared demo company's workspace, with its truth."""
    folder = demo_folder(tmp_path_factory)
    ws = Workspace.open(folder / "ws")
    ws.truth = json.loads((folder / "data" / "truth.json").read_text())  # type: ignore[attr-defined]
    yield ws  # type: ignore[misc]
    ws.close()


@pytest.fixture(scope="module")
def demo_result(demo: Workspace):  # type: ignore[no-untyped-def]
    """The demo's cascade by segment, per quarter (measured once)."""
    return cascade(demo.tables(), demo.schema, demo.plan, by=["segment"], period="quarter")


# --- the issue's numbers and the time shift ------------------------------------------------------


def test_issue_numbers_carry_unrounded_and_round_up_for_display(empty: Workspace) -> None:
    """40M at 150k: 266.67 -> 267 won deals, 17,429.19 -> 17,430 inquiries (10/85/60/30%)."""
    result = cascade(empty.tables(), empty.schema, plan_from_text(ISSUE_PLAN), period="quarter")
    totals = result.required.groupby("stage")["required"].sum()
    assert totals["won"] == pytest.approx(40_000_000 / 150_000)
    assert totals["inquiry"] == pytest.approx(40_000_000 / 150_000 / 0.3 / 0.6 / 0.85 / 0.1)
    assert (whole(totals["won"]), whole(totals["inquiry"])) == (267, 17_430)
    used = result.assumptions[result.assumptions["assumption"] != "cost_per_entry"]
    assert set(used["source"]) == {"plan"}


def test_a_q4_target_shows_demand_in_q2_and_q3(empty: Workspace) -> None:
    """With 102 days of lag from inquiry to won, a Q4-only need reaches back into Q2 and Q3."""
    text = ISSUE_PLAN.replace("period: year", "period: quarter").replace(
        "horizon: {start: 2025-01-01", "horizon: {start: 2025-10-01"
    )
    result = cascade(empty.tables(), empty.schema, plan_from_text(text), period="quarter")
    inquiries = result.required[result.required["stage"] == "inquiry"].set_index("period")
    quarters = {str(p): v for p, v in inquiries["required"].items() if v > 0}
    assert set(quarters) == {"2025-07-01", "2025-04-01"}
    assert quarters["2025-07-01"] > quarters["2025-04-01"] > 0


def reference_requirements(won: list[float], steps: list[Step]) -> list[list[float]]:
    """Needs per day, ladder top first, by a double loop: each day's need spread back by the lag."""
    needs = [list(won)]
    for step in reversed(steps):
        below, above = needs[0], [0.0] * len(won)
        for t in range(len(won)):
            for d, share in enumerate(step.lag):
                if t + d < len(won):
                    above[t] += below[t + d] * share / step.conversion  # type: ignore[operator]
        needs.insert(0, above)
    return needs


def test_requirements_match_a_double_loop_reference() -> None:
    """The convolution equals the plain double loop, for spread-out lags and fractional points."""
    lags = [np.array([0.2, 0.5, 0.3]), point_lag(2.5), np.array([0.0, 0.0, 0.0, 1.0])]
    steps = [
        Step(f"s{i}", f"s{i + 1}", c, "test", lag, "test")
        for i, (c, lag) in enumerate(zip([0.5, 0.8, 0.25], lags, strict=True))
    ]
    won = [0, 0, 0, 0, 0, 0, 1.0, 2.0, 0, 3.0, 0, 0]
    got = requirements(np.array(won), steps)
    for mine, ref in zip(got, reference_requirements(won, steps), strict=True):
        assert mine == pytest.approx(ref)
    assert point_lag(2.5).tolist() == [0, 0, 0.5, 0.5]


# --- measured assumptions against plain references -----------------------------------------------


def _first(events: pd.DataFrame, stage: str) -> dict[str, pd.Timestamp]:
    rows = events[events["stage"] == stage]
    return rows.groupby("record_id")["entered_at"].min().to_dict()


def reference_cohorts(ws: Workspace) -> Counter:
    """(step, segment, month, whole days or None) -> records, from the rows in plain Python."""
    events = ws.table("stage_events")
    opps = ws.table("opportunities")
    segment_of_account = ws.table("accounts").set_index("account_id")["segment"].to_dict()
    person_account = ws.table("people").set_index("person_id")["account_id"].to_dict()
    opp_account = opps.set_index("opportunity_id")["account_id"].to_dict()
    person_opps: dict[str, list[str]] = {}
    for o, p in zip(opps["opportunity_id"], opps["person_id"], strict=True):
        if isinstance(p, str):
            person_opps.setdefault(p, []).append(o)
    out: Counter = Counter()
    for stage, nxt in STEPS:
        later = events[events["stage"] == nxt].groupby("record_id")["entered_at"].apply(list)
        for record, at in _first(events, stage).items():
            is_opp = stage in ("opportunity", "won")
            targets = [record] if is_opp or nxt != "opportunity" else person_opps.get(record, [])
            hits = [t for r in targets for t in later.get(r, []) if t >= at]
            days = None if not hits else math.floor((min(hits) - at).total_seconds() / 86400)
            account = opp_account.get(record) if is_opp else person_account.get(record)
            segment = segment_of_account.get(account) if isinstance(account, str) else None
            segment = segment if isinstance(segment, str) else None
            out[(stage, segment, at.replace(day=1).normalize(), days)] += 1
    return out


def engine_cohorts(ws: Workspace) -> Counter:
    """The engine's step cohorts as the same Counter."""
    stages = ladder(ws.plan)
    frame = measure.step_cohorts(
        ws.tables(),
        list(itertools.pairwise(stages)),
        pd.Timestamp("2020-01-01"),
        pd.Timestamp("2030-01-01"),
    )
    out: Counter = Counter()
    for row in frame.itertuples():
        segment = row.segment if isinstance(row.segment, str) else None
        days = None if pd.isna(row.days) else int(row.days)
        out[(row.step, segment, pd.Timestamp(row.month), days)] += int(row.n)
    return out


def test_step_cohorts_match_a_record_by_record_reference(fixture_ws: Workspace) -> None:
    """Entries, conversions and whole-day lags per step match a plain-Python walk of the rows."""
    assert engine_cohorts(fixture_ws) == reference_cohorts(fixture_ws)


@pytest.mark.parametrize("which", ["fixture", "demo"])
def test_step_cohorts_equal_the_funnels_cohort_conversion(
    which: str, fixture_ws: Workspace, demo: Workspace
) -> None:
    """Per segment, month and stage, entries and conversions are the funnel's (cohort basis)."""
    ws = fixture_ws if which == "fixture" else demo
    stages = ladder(ws.plan)
    mine = measure.step_cohorts(
        ws.tables(),
        list(itertools.pairwise(stages)),
        pd.Timestamp("2020-01-01"),
        pd.Timestamp("2030-01-01"),
    )
    mine = mine.assign(
        converted=mine["n"].where(mine["days"].notna(), 0), segment=mine["segment"].fillna("")
    )
    mine = mine.groupby(["step", "segment", "month"])[["n", "converted"]].sum()
    raw = funnel(ws.tables(), ws.schema, ws.plan, by=["segment"], period="month")
    raw = raw[raw["stage"].isin([s.id for s in stages[:-1]]) & (raw["entries"] > 0)]
    raw = raw.assign(segment=raw["segment"].fillna(""))
    for row in raw.itertuples():
        key = (row.stage, row.segment, pd.Timestamp(row.period))
        got = mine.loc[key] if key in mine.index else None
        assert got is not None and int(got["n"]) == row.entries, key
        assert int(got["converted"]) == round(row.entries * (row.conversion_to_next or 0)), key
    assert int(mine["n"].sum()) == int(raw["entries"].sum())


def test_side_entries_count_records_that_skipped_the_stage(fixture_ws: Workspace) -> None:
    """p3 and p6 went mql -> sql without sal: two of sql's three first entries skipped it."""
    stages = ladder(fixture_ws.plan)
    frame = measure.side_entries(
        fixture_ws.tables(),
        list(itertools.pairwise(stages)),
        pd.Timestamp("2020-01-01"),
        pd.Timestamp("2030-01-01"),
    )
    totals = frame.groupby("step")[["entries", "came_through"]].sum()
    assert totals.loc["sal"].tolist() == [3, 1]  # p1, p3, p6 entered sql; only p1 via sal
    assert totals.loc["sql"].tolist() == [3, 3]  # o1, o2, o3 all came from an sql person
    assert totals.loc["lead"].tolist() == [5, 5]


def test_plan_overrides_take_precedence_per_segment(fixture_ws: Workspace) -> None:
    """A segment's own number wins over the every-segment one; the rest stays measured."""
    text = (
        FIXTURE_PLAN
        + """
cascade:
  assumptions:
    deal_size: {computing: 500}
    conversion: {sql: 0.5, computing: {sql: 0.9}}
    lag_days: {opportunity: 30}
"""
    )
    plan = plan_from_text(text)
    result = cascade(fixture_ws.tables(), fixture_ws.schema, plan, by=["segment"])
    rows = result.assumptions.set_index(["segment", "assumption", "stage"], drop=False)
    assert rows.loc[("computing", "conversion", "sql"), "value"] == 0.9
    ladders = result.scopes[("new", None)].ladders  # transportation won nothing: no run
    assert [s.conversion for s in ladders["transportation"].steps if s.stage == "sql"] == [0.5]
    assert [s.conversion for s in ladders[None].steps if s.stage == "sql"] == [0.5]
    assert rows.loc[("computing", "lag_days", "opportunity"), "source"] == "plan"
    assert rows.loc[("computing", "conversion", "lead"), "source"].startswith("measured")
    sizes = result.assumptions[result.assumptions["assumption"] == "deal_size"].set_index("segment")
    assert sizes.loc["computing", "value"] == 500 and sizes.loc["computing", "source"] == "plan"


# --- the demo: truth, segments, coherence ---------------------------------------------------------


def test_demo_assumptions_recover_the_truth(demo: Workspace, demo_result) -> None:  # type: ignore[no-untyped-def]
    """Deal sizes, lead->mql reach and step lags per segment are the generator's, within noise."""
    truth = demo.truth  # type: ignore[attr-defined]
    frame = demo_result.assumptions
    rows = frame[frame["success_factor"] == "new_bookings"]
    rows = rows.set_index(["segment", "assumption", "stage"], drop=False)
    ladders = demo_result.scopes[("new", None)].ladders
    for i, segment in enumerate(P.SEGMENTS):
        expected = P.DEAL_MEDIAN[i] * math.exp(P.DEAL_SIGMA**2 / 2)  # lognormal mean
        sd = expected * math.sqrt(math.exp(P.DEAL_SIGMA**2) - 1)
        lad = ladders[segment]
        assert lad.deal_size == pytest.approx(lad.amounts.mean())
        assert abs(lad.deal_size - expected) < 4 * sd / math.sqrt(len(lad.amounts)), segment
        reach = rows.loc[(segment, "conversion", "lead"), "reach"]
        true = truth["conversion"]["lead->mql"]["by_segment"][segment]
        assert abs(reach - true) < 0.05, segment
        for step, name in (("lead", "lead->mql"), ("sal", "sal->sql"), ("sql", "sql->opportunity")):
            median = rows.loc[(segment, "lag_days", step), "lag_median_days"]
            true_median = truth["lag_days"][name]["median"][segment]
            assert abs(median + 0.5 - true_median) <= max(2.0, 0.15 * true_median), (segment, step)


def test_company_targets_split_across_segments_add_up(demo_result) -> None:  # type: ignore[no-untyped-def]
    """By segment, the segments' won needs add up to the company target ÷ their deal sizes."""
    won = demo_result.required[demo_result.required["stage"] == "won"]
    shares = demo_result.assumptions[demo_result.assumptions["assumption"] == "segment_share"]
    company = shares[shares["success_factor"] == "new_bookings"]
    assert company["value"].sum() == pytest.approx(1.0)
    sizes = demo_result.assumptions[demo_result.assumptions["assumption"] == "deal_size"]
    sizes = sizes[sizes["success_factor"] == "new_bookings"].set_index("segment")["value"]
    needed = won[won["success_factor"] == "new_bookings"].groupby("segment")["required"].sum()
    bookings = (needed * sizes).sum()
    assert bookings == pytest.approx(22_000_000 * 8)  # eight quarters in the demo plan's horizon
    assert set(won[won["success_factor"] == "computing_share"]["segment"]) == {"computing"}


def test_function_targets_follow_stage_owners(demo_result) -> None:  # type: ignore[no-untyped-def]
    """Marketing owns leads, MQLs and the budget; sales owns the rest, the win rate, bookings."""
    functions = demo_result.functions
    by_owner = functions.groupby("function")["measure"].apply(set).to_dict()
    assert by_owner == {
        "marketing": {"entries", "budget"},
        "sales": {"entries", "win_rate", "bookings"},
    }
    marketing = functions[
        (functions["function"] == "marketing") & (functions["measure"] == "entries")
    ]
    assert set(marketing["stage"]) == {"lead", "mql"}


def test_target_coherence_reports_too_low_objectives(demo: Workspace, demo_result) -> None:  # type: ignore[no-untyped-def]
    """An objective below the cascade's need in its worst quarter is a finding with that gap."""
    found = target_coherence(demo.tables(), demo.schema, demo.plan, result=demo_result)
    for finding in found:
        assert finding.kind == "too_low" and 0 < finding.gap_share <= 1
        assert finding.gap == pytest.approx(finding.needed - finding.target)
    mqls = next((f for f in found if f.objective == "mkt_mqls"), None)
    need = demo_result.required
    need = need[(need["stage"] == "mql") & (need["success_factor"] == "new_bookings")]
    quarterly = need[pd.to_datetime(need["period"]) >= pd.Timestamp("2024-10-01")]
    worst = quarterly.groupby("period")["required"].sum().max()
    if worst - 1000 >= 1:
        assert mqls is not None and mqls.needed == pytest.approx(worst)
    else:
        assert mqls is None


def test_a_win_rate_never_reached_is_a_finding(demo: Workspace, demo_result) -> None:  # type: ignore[no-untyped-def]
    """A 90% win-rate objective is above every quarter the demo ever had."""
    text = (Path(demo.folder) / "missionline.yaml").read_text()
    plan = plan_from_text(
        text.replace("target: 0.35, period: quarter", "target: 0.9, period: quarter")
    )
    # the cascade does not read the objectives: the demo's result serves this plan too
    found = [
        f
        for f in target_coherence(demo.tables(), demo.schema, plan, result=demo_result)
        if f.kind == "never_achieved"
    ]
    assert [f.objective for f in found] == ["sales_win_rate"]
    assert 0.2 < found[0].needed < 0.9 and found[0].gap == pytest.approx(0.9 - found[0].needed)


# --- rules, errors and the CLI ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("block", "rule", "line"),
    [
        ("cascade: {start_stage: won}", "cascade-unknown-key", 1),
        ("cascade:\n  assumptions:\n    conversion: {radar: 0.5}", "cascade-unknown-key", 3),
        (
            "cascade:\n  assumptions:\n    conversion: {retail: {sql: 0.5}}",
            "cascade-unknown-key",
            3,
        ),
        ("cascade:\n  assumptions:\n    conversion: {sql: 1.5}", "cascade-conversion-range", 3),
        ("cascade:\n  assumptions:\n    deal_size: {computing: 0}", "cascade-deal-size", 3),
        ('scenarios:\n  - {id: s, name: S, set: ["conversion.sql=lots"]}', "scenario-invalid", 2),
        ('scenarios:\n  - {id: s, name: S, set: ["budget.x.y=1"]}', "scenario-invalid", 2),
    ],
)
def test_rules_find_bad_cascade_blocks(tmp_path: Path, block: str, rule: str, line: int) -> None:
    """Each mistake is an error of its rule, located in the file."""
    base = FIXTURE_PLAN.strip() + "\n"
    result = check_plan(tmp_path / "missionline.yaml", text=base + block + "\n")
    found = [f for f in result.errors if f.rule == rule]
    assert found, result.findings
    assert found[0].line == len(base.splitlines()) + line


def test_demo_plan_checks_clean_with_its_cascade_block() -> None:
    """The demo's cascade block and scenarios raise no finding of the cascade rules."""
    from missionline.workspace import packaged_example

    rules = {f.rule for f in check_plan(packaged_example("demo")).findings}
    assert not {r for r in rules if r.startswith(("cascade", "scenario"))}


def test_bad_arguments_are_user_errors(fixture_ws: Workspace) -> None:
    """--by other than segment, an unknown period or lookback: MissionlineError, not a traceback."""
    args = (fixture_ws.tables(), fixture_ws.schema, fixture_ws.plan)
    with pytest.raises(MissionlineError, match="use --by segment"):
        cascade(*args, by=["channel"])
    with pytest.raises(MissionlineError, match="unknown period"):
        cascade(*args, period="fortnight")
    with pytest.raises(MissionlineError, match="invalid duration"):
        cascade(*args, lookback="a year")


def test_cli_json_contract(fixture_ws: Workspace) -> None:
    """`cascade -f json` prints the documented object, with the segment column by segment."""
    app = typer.Typer()
    register_cascade_commands(app)
    args = ["cascade", "-w", str(fixture_ws.folder), "--by", "segment", "--lookback", "800d"]
    result = CliRunner().invoke(app, [*args, "--period", "quarter", "-f", "json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert set(payload) == {
        "period",
        "lookback",
        "window",
        "required",
        "functions",
        "budget",
        "assumptions",
        "not_cascadable",
    }
    assert set(payload["required"][0]) == {
        "success_factor",
        "segment",
        "stage",
        "period",
        "required",
        "function",
    }
    assert payload["not_cascadable"][0]["success_factor"] == "revenue"
    assert payload["lookback"] == "800d"


OBJECTIVE = """
objectives:
  - {id: mkt_inquiries, function: marketing, supports: [bookings], metric: inquiries,
     target: TARGET, period: year}
"""


def test_cli_check_exits_1_on_findings(tmp_path: Path) -> None:
    """`cascade check` exits 0 when targets fit and 1 when one is short of the horizon's need."""
    app = typer.Typer()
    register_cascade_commands(app)
    base = ISSUE_PLAN.replace(
        "metrics:\n", "metrics:\n  inquiries: {measure: entries, stage: inquiry}\n"
    )
    with workspace_from(tmp_path, base + OBJECTIVE.replace("TARGET", "13000")) as ws:
        frame = cascade(ws.tables(), ws.schema, ws.plan).required
    inside = frame[(frame["stage"] == "inquiry") & (frame["period"] >= date(2025, 1, 1))]
    needed = float(inside["required"].sum())  # inquiries needed inside the horizon (2025)
    assert 10000 < needed < 13000
    for target, status in (("13000", 0), ("10000", 1)):
        (tmp_path / "ws" / "missionline.yaml").write_text(
            base + OBJECTIVE.replace("TARGET", target)
        )
        result = CliRunner().invoke(
            app, ["cascade", "check", "-w", str(tmp_path / "ws"), "-f", "json"]
        )
        assert result.exit_code == status, result.output
        findings = json.loads(result.stdout)
        assert len(findings) == status
    assert findings[0]["kind"] == "too_low"
    assert findings[0]["gap"] == pytest.approx(needed - 10000)
