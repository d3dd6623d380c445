"""The pipeline matches a deal-by-deal reference and recovers the demo's deal sizes, win rates."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from missionline.cli.revenue import register_revenue_commands
from missionline.demo.generator import generate_company, write_company
from missionline.errors import MissionlineError
from missionline.metrics.pipeline import pipeline, stage_probabilities
from missionline.report.revenue_section import inputs_section, pipeline_section
from missionline.workspace import Workspace

from conftest import load_fixture, write

PLAN = """
company: Fixture
functions: [{id: marketing, name: Marketing}, {id: sales, name: Sales}]
success_factors:
  - {id: bookings, name: Bookings, metric: new_bookings, target: 3000, period: quarter, unit: USD}
metrics:
  new_bookings: {measure: won_amount, kind: new}
lifecycle:
  stages:
    - {id: lead, name: Lead, next: [mql, disqualified]}
    - {id: mql, name: MQL, next: [sal, disqualified, recycled]}
    - {id: sal, name: SAL, next: [sql, disqualified, recycled]}
    - {id: sql, name: SQL, next: [opportunity, disqualified, recycled]}
    - {id: opportunity, name: Opportunity, record_type: opportunity, next: [proposal, won, lost]}
    - {id: proposal, name: Proposal, record_type: opportunity, next: [won, lost]}
    - {id: won, name: Won, record_type: opportunity, terminal: true}
    - {id: lost, name: Lost, record_type: opportunity, exit: lost}
    - {id: disqualified, name: Disqualified, exit: disqualified}
    - {id: recycled, name: Recycled, exit: recycled, next: [mql]}
"""
OPPORTUNITY_PATH = ["opportunity", "proposal", "won"]


def add_deals(ws: Workspace, folder: Path) -> None:
    """Add owners and deals to the fixture company: open, won, lost, nulls, ties, odd cases."""
    write(
        folder / "owners.csv",
        """
        owner_id,name,function,team,capacity
        u1,Ann,sales,east,2
        u2,Bo,sales,west,3
        u3,Cy,marketing,demand,
        u4,Di,sales,west,0
    """,
    )
    # o6 has no person; o7 no amount and no stage events; o8 no owner (renewal); o9 is won
    # without a close date; o11 enters opportunity and proposal at the same instant; o12 closes
    # the moment it is created.
    write(
        folder / "opportunities.csv",
        """
        opportunity_id,account_id,person_id,created_at,closed_at,amount,currency,status,kind,owner_id,loss_reason
        o4,a1,p2,2024-02-10,2024-05-15,2000,USD,won,new,u1,
        o5,a3,p5,2024-03-05,2024-04-20,300,USD,lost,new,u2,price
        o6,a1,,2024-03-10,,800,USD,open,expansion,u1,
        o7,a2,p3,2024-04-01,,,USD,open,new,u2,
        o8,a3,,2024-04-15,2024-06-01,1500,USD,won,renewal,,
        o9,a2,,2024-05-01,,400,USD,won,new,u4,
        o10,a1,p1,2024-05-20 12:00:00,,900,USD,open,new,u2,
        o11,a2,p6,2024-01-15,2024-02-20,1200,USD,won,new,u1,
        o12,a1,p1,2024-06-10,2024-06-10,100,USD,won,new,u1,
    """,
    )
    write(
        folder / "stage_events.csv",
        """
        record_id,record_type,stage,entered_at,owner_id,reason
        o8,opportunity,won,2024-06-01 00:00:00,,
        o2,opportunity,proposal,2024-04-10 00:00:00,,
        o3,opportunity,proposal,2024-03-15 00:00:00,,
        o4,opportunity,opportunity,2024-02-10 00:00:00,u1,
        o4,opportunity,proposal,2024-03-20 00:00:00,u1,
        o4,opportunity,won,2024-05-15 00:00:00,u1,
        o5,opportunity,opportunity,2024-03-05 00:00:00,u2,
        o5,opportunity,lost,2024-04-20 00:00:00,u2,price
        o6,opportunity,opportunity,2024-03-10 00:00:00,u1,
        o8,opportunity,opportunity,2024-04-15 00:00:00,,
        o8,opportunity,proposal,2024-05-01 00:00:00,,
        o9,opportunity,opportunity,2024-05-01 00:00:00,u4,
        o9,opportunity,won,2024-05-30 00:00:00,u4,
        o10,opportunity,proposal,2024-05-25 00:00:00,u2,
        o10,opportunity,opportunity,2024-05-20 12:00:00,u2,
        o11,opportunity,opportunity,2024-01-15 00:00:00,u1,
        o11,opportunity,proposal,2024-01-15 00:00:00,u1,
        o11,opportunity,won,2024-02-20 00:00:00,u1,
        o12,opportunity,opportunity,2024-06-10 00:00:00,u1,
        o12,opportunity,won,2024-06-10 00:00:00,u1,
    """,
    )
    ws.import_files([folder])


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """A workspace with a bookings target and a proposal stage, holding the fixture deals.

    Module-wide to keep the file fast: no test changes its data.
    """
    tmp_path = tmp_path_factory.mktemp("pipeline")
    plan = write(tmp_path / "plan.yaml", PLAN)
    ws = Workspace.init(tmp_path / "ws", str(plan))
    load_fixture(ws, tmp_path / "base")
    add_deals(ws, tmp_path / "deals")
    yield ws  # type: ignore[misc]
    ws.close()


def run(ws: Workspace, **kwargs: object) -> pd.DataFrame:
    """The engine's pipeline on a workspace."""
    return pipeline(ws.tables(), ws.schema, ws.plan, **kwargs)  # type: ignore[arg-type]


# --- the reference: deal by deal, in plain Python ----------------------------------------------


def _clean(value: object) -> object:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def _period(ts: pd.Timestamp, period: str | None) -> object:
    if period is None:
        return None
    months = {"month": 1, "quarter": 3}[period]
    return date(ts.year, (ts.month - 1) // months * months + 1, 1)


def _next_period(start: date, period: str) -> date:
    months = {"month": 1, "quarter": 3}[period]
    index = start.year * 12 + start.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


class Reference:
    """Every pipeline number computed deal by deal from the workspace's tables."""

    def __init__(self, ws: Workspace, as_of: pd.Timestamp) -> None:
        self.as_of = as_of
        self.deals = [
            {k: _clean(v) for k, v in row.items()}
            for row in ws.table("opportunities").to_dict("records")
        ]
        self.deals = [d for d in self.deals if d["created_at"] < as_of]
        self.accounts = ws.table("accounts").set_index("account_id").to_dict("index")
        self.people = ws.table("people").set_index("person_id").to_dict("index")
        self.owners = ws.table("owners").set_index("owner_id").to_dict("index")
        self.events = [
            e
            for e in ws.table("stage_events").to_dict("records")
            if e["record_type"] == "opportunity" and e["stage"] in OPPORTUNITY_PATH
        ]

    def closed(self, deal: dict) -> bool:
        """Won or lost, with a close date before as_of."""
        return (
            deal["status"] in ("won", "lost")
            and deal["closed_at"] is not None
            and (deal["closed_at"] < self.as_of)
        )

    def dimension(self, deal: dict, name: str) -> object:
        """The deal's value of one --by dimension."""
        account = self.accounts.get(deal["account_id"], {})
        if name in ("segment", "market"):
            return _clean(account.get(name))
        if name == "owner":
            return deal["owner_id"]
        if name == "team":
            return _clean(self.owners.get(deal["owner_id"], {}).get("team"))
        return _clean(self.people.get(deal["person_id"], {}).get("source_channel"))

    def probabilities(self) -> dict[str, tuple[int, int]]:
        """Stage -> (closed deals that entered it, won among them)."""
        deals = {d["opportunity_id"]: d for d in self.deals if self.closed(d)}
        entered = {
            (e["record_id"], e["stage"]) for e in self.events if e["entered_at"] < self.as_of
        }
        out = {}
        for stage in OPPORTUNITY_PATH:
            ids = [r for r, s in entered if s == stage and r in deals]
            out[stage] = (len(ids), sum(deals[r]["status"] == "won" for r in ids))
        return out

    def current_stage(self, deal: dict, at: pd.Timestamp) -> str:
        """The latest path stage entered before ``at`` (ties: later stage), else the first."""
        seen = [
            (e["entered_at"], OPPORTUNITY_PATH.index(e["stage"]), e["stage"])
            for e in self.events
            if e["record_id"] == deal["opportunity_id"] and e["entered_at"] < at
        ]
        return max(seen)[2] if seen else OPPORTUNITY_PATH[0]

    def is_open(self, deal: dict, at: pd.Timestamp) -> bool:
        """Created before ``at`` and open, or closed at or after it."""
        later = deal["closed_at"] is not None and deal["closed_at"] >= at
        return deal["created_at"] < at and (deal["status"] == "open" or later)

    def table(self, by: Sequence[str], period: str | None, remaining: float | None) -> pd.DataFrame:
        """The pipeline frame, one row per group (and period)."""
        counts = self.probabilities()
        prob = {s: w / n for s, (n, w) in counts.items() if n}
        snaps: list[tuple[object, pd.Timestamp]] = [(None, self.as_of)]
        if period:
            first = _period(min(d["created_at"] for d in self.deals), period)
            snaps = []
            while pd.Timestamp(first) < self.as_of:
                nxt = _next_period(first, period)  # type: ignore[arg-type]
                snaps.append((first, min(pd.Timestamp(nxt), self.as_of)))
                first = nxt
        rows: dict[tuple, dict] = defaultdict(lambda: defaultdict(list))
        for deal in self.deals:
            key = tuple(self.dimension(deal, b) for b in by)
            if self.closed(deal):
                rows[(*key, _period(deal["closed_at"], period))]["closed"].append(deal)
            for per, at in snaps:
                if self.is_open(deal, at):
                    rows[(*key, per)]["open"].append((deal, self.current_stage(deal, at)))
        if not by:
            for per, _ in snaps:
                rows.setdefault((per,), defaultdict(list))
        out = []
        for key, cell in rows.items():
            won = [d for d in cell["closed"] if d["status"] == "won"]
            amounts = [d["amount"] for d in won if d["amount"] is not None]
            days = [(d["closed_at"] - d["created_at"]).total_seconds() / 86400 for d in won]
            n = len(cell["closed"])
            opened = cell["open"]
            row = dict(zip(by, key[:-1], strict=True))
            if period:
                row["period"] = key[-1]
            row.update(
                won=len(won),
                lost=n - len(won),
                win_rate=len(won) / n if n else None,
                average_deal_size=float(np.mean(amounts)) if amounts else None,
                median_deal_size=float(np.quantile(amounts, 0.5)) if amounts else None,
                median_cycle_days=float(np.quantile(days, 0.5)) if days else None,
                average_cycle_days=float(np.mean(days)) if days else None,
                open_count=len(opened),
                open_amount=float(sum(d["amount"] or 0 for d, _ in opened)),
                weighted_pipeline=float(
                    sum((d["amount"] or 0) * prob.get(s, 0) for d, s in opened)
                ),
            )
            factors = [row["open_count"], row["win_rate"], row["average_deal_size"]]
            cycle = row["average_cycle_days"]
            velocity = None
            if None not in factors and cycle is not None and cycle > 0:
                velocity = float(np.prod(factors)) / cycle
            row["pipeline_velocity_per_day"] = velocity
            at_as_of = not period or key[-1] == snaps[-1][0]
            target_open = sum(d["amount"] or 0 for d, _ in opened if d["kind"] == "new")
            coverage = target_open / remaining if remaining and at_as_of else None
            row["coverage"] = coverage
            out.append(row)
        return pd.DataFrame(out)


def remaining_target(ws: Workspace, as_of: pd.Timestamp, target: float = 3000) -> float:
    """The fixture plan's quarterly new-bookings target minus new won amounts so far."""
    start = pd.Timestamp(_period(as_of, "quarter"))  # type: ignore[arg-type]
    deals = ws.table("opportunities")
    done = deals[
        (deals["status"] == "won")
        & (deals["kind"] == "new")
        & (deals["closed_at"] >= start)
        & (deals["closed_at"] < as_of)
    ]["amount"].sum()
    return target - float(done)


def assert_same(engine: pd.DataFrame, ref: pd.DataFrame, keys: list[str]) -> None:
    """Compare two frames row by row, exactly up to float rounding, nulls included."""
    if keys:
        engine = engine.sort_values(keys, key=lambda s: s.astype(str)).reset_index(drop=True)
        ref = ref.sort_values(keys, key=lambda s: s.astype(str)).reset_index(drop=True)
    assert len(engine) == len(ref), (engine, ref)
    for column in ref.columns:
        left = engine[column].astype(object).where(engine[column].notna(), None).tolist()
        right = ref[column].astype(object).where(ref[column].notna(), None).tolist()
        for a, b in zip(left, right, strict=True):
            if isinstance(a, float) or isinstance(b, float):
                assert a is not None and b is not None, (column, left, right)
                assert a == pytest.approx(b, rel=1e-12, abs=1e-9), (column, left, right)
            else:
                assert a == b, (column, left, right)


# --- the fixture ---------------------------------------------------------------------------------

AS_OF = pd.Timestamp("2024-06-11")  # the midnight after the last event (o12 on 2024-06-10)


def test_stage_probabilities_known_values(loaded: Workspace) -> None:
    """Of closed deals: 5 of 7 that entered opportunity won, 3 of 4 at proposal; o9 is left out."""
    frame = stage_probabilities(loaded.tables(), loaded.schema, loaded.plan).set_index("stage")
    assert frame["closed"].to_dict() == {"opportunity": 7, "proposal": 4, "won": 5}
    assert frame["won"].to_dict() == {"opportunity": 5, "proposal": 3, "won": 5}
    assert frame.loc["proposal", "probability"] == pytest.approx(0.75)
    ref = Reference(loaded, AS_OF).probabilities()
    assert {s: (int(r.closed), int(r.won)) for s, r in frame.iterrows()} == ref


def test_known_values(loaded: Workspace) -> None:
    """Hand-checked: win rate, weighted pipeline at current stages, and coverage of the target."""
    row = run(loaded).iloc[0]
    assert (row["won"], row["lost"]) == (5, 2)
    assert row["win_rate"] == pytest.approx(5 / 7)
    assert row["open_count"] == 4  # o2, o6, o7 (no amount), o10
    assert row["open_amount"] == pytest.approx(2200)
    # o2 and o10 at proposal (0.75), o6 at opportunity (5/7), o7 has no amount
    assert row["weighted_pipeline"] == pytest.approx(500 * 0.75 + 800 * 5 / 7 + 900 * 0.75)
    # Q2 2024: 3000 - (o4 2000 + o12 100) = 900 remain; open new deals: o2 500 + o10 900
    assert row["coverage"] == pytest.approx(1400 / 900)
    assert row["median_deal_size"] == pytest.approx(1200)
    cycle = row["average_cycle_days"]
    assert row["pipeline_velocity_per_day"] == pytest.approx(
        4 * 5 / 7 * row["average_deal_size"] / cycle
    )


@pytest.mark.parametrize("by", [(), ("segment",), ("owner",), ("market",), ("channel",), ("team",)])
def test_pipeline_matches_reference(loaded: Workspace, by: tuple[str, ...]) -> None:
    """By segment, owner, market, channel and team, nulls included, every number matches."""
    ref = Reference(loaded, AS_OF).table(by, None, remaining_target(loaded, AS_OF))
    assert_same(run(loaded, by=list(by)), ref, list(by))


@pytest.mark.parametrize(("by", "period"), [((), "month"), (("segment",), "quarter")])
def test_pipeline_by_period_matches_reference(
    loaded: Workspace, by: tuple[str, ...], period: str
) -> None:
    """Closed deals by close period and open deals at each period end match the reference."""
    ref = Reference(loaded, AS_OF).table(by, period, remaining_target(loaded, AS_OF))
    assert_same(run(loaded, by=list(by), period=period), ref, [*by, "period"])


def test_as_of_in_the_past_rebuilds_the_snapshot(loaded: Workspace) -> None:
    """As of 12 March, later closes are open again and later stage entries are ignored."""
    as_of = pd.Timestamp("2024-03-12")
    ref = Reference(loaded, as_of).table(("owner",), None, remaining_target(loaded, as_of))
    engine = run(loaded, by=["owner"], as_of="2024-03-12")
    assert_same(engine, ref, ["owner"])
    total = run(loaded, as_of=date(2024, 3, 12)).iloc[0]
    assert (total["won"], total["lost"]) == (2, 0)  # o11 (Feb) and o1 (1 March)
    assert total["open_count"] == 5  # o2, o3, o4, o5, o6


def test_no_bookings_target_gives_null_coverage(workspace: Workspace, tmp_path: Path) -> None:
    """The starter plan has no won_amount target, so coverage is null."""
    load_fixture(workspace, tmp_path / "files")
    frame = run(workspace, by=["segment"])
    assert frame["coverage"].isna().all()
    assert frame["open_count"].sum() == 1


def test_empty_workspace_gives_one_row_of_zeros(workspace: Workspace) -> None:
    """With no deals there is one row: zero counts, null ratios."""
    frame = run(workspace)
    assert len(frame) == 1
    assert frame[["won", "lost", "open_count"]].iloc[0].tolist() == [0, 0, 0]
    assert frame["win_rate"].isna().all() and frame["coverage"].isna().all()
    assert run(workspace, period="month").empty


def test_bad_inputs_are_user_errors(loaded: Workspace) -> None:
    """An unknown period, dimension or as-of date is a MissionlineError, not a traceback."""
    with pytest.raises(MissionlineError, match="unknown period"):
        run(loaded, period="fortnight")
    with pytest.raises(MissionlineError, match="unknown dimension"):
        run(loaded, by=["colour"])
    with pytest.raises(MissionlineError, match="invalid as-of"):
        run(loaded, as_of="yesterday-ish")


def test_cli_json_contract(loaded: Workspace) -> None:
    """`missionline pipeline --format json` prints one object per group with the stable keys."""
    app = typer.Typer()
    register_revenue_commands(app)
    result = CliRunner().invoke(
        app, ["pipeline", "-w", str(loaded.folder), "--by", "segment", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    contract = {
        "segment",
        "win_rate",
        "won",
        "lost",
        "average_deal_size",
        "median_cycle_days",
        "pipeline_velocity_per_day",
        "weighted_pipeline",
        "coverage",
    }
    assert rows and all(contract <= set(row) for row in rows)
    table = CliRunner().invoke(app, ["pipeline", "-w", str(loaded.folder), "--period", "month"])
    assert table.exit_code == 0 and "Stage probabilities" in table.output


# --- the demo: true parameters recovered --------------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, dict]:
    """A 60,000-lead demo company imported into a workspace, with its truth."""
    folder = tmp_path_factory.mktemp("demo")
    company = generate_company(leads=60_000, seed=23)
    write_company(company, folder / "data")
    ws = Workspace.init(folder / "ws", "demo")
    ws.import_files([folder / "data"])
    yield ws, company.truth  # type: ignore[misc]
    ws.close()


def test_demo_deal_size_by_segment_recovers_truth(demo: tuple[Workspace, dict]) -> None:
    """Median and mean won new-deal size per segment are within 4 standard errors of the truth.

    Amounts are lognormal (median m, log sigma s) and independent of the outcome, so the log of
    the sample median has standard error s * sqrt(pi / 2) / sqrt(n), and the mean estimates
    m * exp(s^2 / 2) with the lognormal's standard deviation over sqrt(n).
    """
    ws, truth = demo
    sizes = truth["deal_size"]
    sigma = sizes["sigma"]
    frame = run(ws, by=["segment", "kind"])
    frame = frame[(frame["kind"] == "new") & frame["segment"].notna()].set_index("segment")
    assert set(frame.index) == set(sizes["median"])
    for segment, median in sizes["median"].items():
        n = int(frame.loc[segment, "won"])
        assert n > 200, segment
        z = (np.log(frame.loc[segment, "median_deal_size"]) - np.log(median)) / (
            sigma * np.sqrt(np.pi / 2) / np.sqrt(n)
        )
        assert abs(z) < 4, (segment, frame.loc[segment, "median_deal_size"], median, z)
        mean = median * np.exp(sigma**2 / 2)
        sd = mean * np.sqrt(np.exp(sigma**2) - 1)
        z_mean = (frame.loc[segment, "average_deal_size"] - mean) / (sd / np.sqrt(n))
        assert abs(z_mean) < 4, (segment, frame.loc[segment, "average_deal_size"], mean, z_mean)


def test_demo_new_deal_win_rate_recovers_truth(demo: tuple[Workspace, dict]) -> None:
    """Won new deals per segment are within 4 standard errors of the true per-cell win rates.

    Outcomes are independent of close dates, so closed deals are an unbiased sample; each
    (segment, channel) cell has its own true probability.
    """
    ws, truth = demo
    cells = truth["conversion"]["opportunity->won"]["by_segment_channel"]
    frame = run(ws, by=["segment", "channel", "kind"])
    frame = frame[(frame["kind"] == "new") & frame["segment"].notna() & frame["channel"].notna()]
    frame = frame.assign(
        p=[cells[s][c] for s, c in zip(frame["segment"], frame["channel"], strict=True)]
    )
    for segment, group in frame.groupby("segment"):
        n = (group["won"] + group["lost"]).to_numpy()
        p = group["p"].to_numpy()
        expected, observed = float((n * p).sum()), float(group["won"].sum())
        z = (observed - expected) / np.sqrt((n * p * (1 - p)).sum())
        assert n.sum() > 300, segment
        assert abs(z) < 4, (segment, observed, expected, z)


def test_demo_sections_read_the_numbers(demo: tuple[Workspace, dict]) -> None:
    """The report sections carry charts, a table and a reading built from the measured numbers."""
    ws, _ = demo
    section = pipeline_section(ws)
    assert section is not None and len(section.charts) == 2
    overall = run(ws).iloc[0]
    assert f"{overall['win_rate']:.1%}" in section.reading
    assert "new_bookings" in section.reading
    inputs = inputs_section(ws)
    assert inputs is not None and len(inputs.charts) == 2
    assert "CAC" in inputs.reading and inputs.rows
