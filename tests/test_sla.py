"""Hand-off SLAs match a record-by-record reference; the demo's response times are recovered."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
from scipy.stats import norm
from typer.testing import CliRunner

from missionline.cli.output import records
from missionline.cli.sla import register_sla_commands
from missionline.demo.generator import generate_company, write_company
from missionline.errors import MissionlineError
from missionline.metrics.sla import open_breaches, rejections, sla, sla_hours
from missionline.report.sla_section import sla_section
from missionline.workspace import Workspace

from conftest import write

PLAN = """
lifecycle:
  stages:
    - {id: lead, name: Lead, next: [mql, disqualified]}
    - {id: mql, name: MQL, next: [sal, sql, recycled, disqualified], sla: {within: 24h}}
    - id: sal
      name: SAL
      next: [sql, recycled, disqualified]
      sla: {within: 2d, until: sql}
    - {id: sql, name: SQL, next: [opportunity], sla: {within: 1w, until: opportunity}}
    - id: opportunity
      name: Opportunity
      record_type: opportunity
      next: [won, lost]
      sla: {within: 3d, until: first_sales_touch}
    - id: won
      name: Won
      record_type: opportunity
      terminal: true
      sla: {within: 30d, measured_from: opportunity, until: won}
    - {id: lost, name: Lost, record_type: opportunity, exit: lost}
    - {id: disqualified, name: Disqualified, exit: disqualified}
    - {id: recycled, name: Recycled, exit: recycled, next: [mql]}
"""
# SLA stage -> (measured_from, until, hours, accepting stages, record type)
SPECS = {
    "mql": ("mql", "first_sales_touch", 24.0, ("sal", "sql"), "person"),
    "sal": ("sal", "sql", 48.0, ("sql",), "person"),
    "sql": ("sql", "opportunity", 168.0, ("opportunity", "won"), "person"),
    "opportunity": ("opportunity", "first_sales_touch", 72.0, ("won",), "opportunity"),
    "won": ("opportunity", "won", 720.0, ("won",), "opportunity"),
}
EXITS = {"lost": "lost", "disqualified": "disqualified", "recycled": "recycled"}
EXIT_TYPE = {"lost": "opportunity", "disqualified": "person", "recycled": "person"}
STAGE_TYPE = {"sql": "person", "opportunity": "opportunity", "won": "opportunity"}


def load_sla_fixture(ws: Workspace, folder: Path) -> None:
    """A small company whose hand-offs are answered late, early, never, at ties and twice."""
    write(
        folder / "owners.csv",
        """
        owner_id,name,function,team,capacity
        sdr1,Ann,sales,sdr_a,
        sdr2,Bob,sales,sdr_b,
        ae1,Cy,sales,ae,30
        ae2,Dee,sales,ae,30
    """,
    )
    write(
        folder / "accounts.csv",
        """
        account_id,name,market,segment,region,industry,employees,created_at
        a1,Acme,europe,computing,de,pc,500,2023-12-01
        a2,Beta,japan,transportation,jp,automotive,80,2023-12-01
        a3,Gamma,europe,,fr,,20,2023-12-01
    """,
    )
    write(
        folder / "people.csv",
        """
        person_id,account_id,created_at,source_channel,first_initiative_id
        p1,a1,2024-01-01,webinar,
        p2,a1,2024-01-02,events,
        p3,a2,2024-01-03,webinar,
        p4,,2024-01-04,,
        p5,a3,2024-02-01,events,
        p6,a2,2024-02-10,webinar,
        p7,a1,2024-03-01,events,
        p8,a2,2024-03-01,webinar,
        p9,a3,2024-03-01,,
        p10,a3,2024-03-01,events,
        p11,a1,2024-03-01,webinar,
        p12,,2024-03-01,events,
        p13,a1,2024-02-01,webinar,
    """,
    )
    write(
        folder / "opportunities.csv",
        """
        opportunity_id,account_id,person_id,created_at,closed_at,amount,currency,status,kind,owner_id,loss_reason
        o1,a1,p1,2024-01-20,2024-03-01,1000,USD,won,new,ae1,
        o2,a2,p3,2024-02-01,,500,USD,open,new,ae2,
        o3,a2,p6,2024-03-01,2024-04-01,700,USD,lost,new,ae2,price
    """,
    )
    # p2: two mql hand-offs, the first rejected (recycled) and answered only after the second;
    # p3: touched before its hand-off, answered late, skips sal; p5: lead, mql and touch at one
    # instant (no owner); p6: rows out of order, two sql hand-offs; p7, p12: never answered;
    # p8: disqualified at the hand-off instant; p9: recycled without a reason; p13: sal and
    # disqualified at one instant (accepted, not rejected, at mql).
    write(
        folder / "stage_events.csv",
        """
        record_id,record_type,stage,entered_at,owner_id,reason
        p1,person,lead,2024-01-01 09:00:00,,
        p1,person,mql,2024-01-03 10:30:00,sdr1,
        p1,person,sal,2024-01-04 08:00:00,sdr1,
        p1,person,sql,2024-01-05 12:00:00,ae1,
        o1,opportunity,opportunity,2024-01-20 00:00:00,ae1,
        o1,opportunity,won,2024-03-01 00:00:00,ae1,
        p2,person,lead,2024-01-02 00:00:00,,
        p2,person,mql,2024-01-05 00:00:00,sdr2,
        p2,person,recycled,2024-01-20 00:00:00,sdr2,not_ready
        p2,person,mql,2024-02-15 00:00:00,sdr2,
        p2,person,sal,2024-02-16 06:00:00,sdr2,
        p3,person,lead,2024-01-03 00:00:00,,
        p3,person,mql,2024-01-06 00:00:00,sdr1,
        p3,person,sql,2024-01-25 00:00:00,ae1,
        o2,opportunity,opportunity,2024-02-01 00:00:00,ae2,
        p4,person,lead,2024-01-04 00:00:00,,
        p4,person,disqualified,2024-01-05 00:00:00,,student
        p5,person,lead,2024-02-01 00:00:00,,
        p5,person,mql,2024-02-01 00:00:00,,
        p5,person,disqualified,2024-02-03 00:00:00,sdr1,student
        p6,person,sql,2024-03-20 00:00:00,ae2,
        p6,person,lead,2024-02-10 00:00:00,,
        o3,opportunity,opportunity,2024-03-01 00:00:00,ae2,
        p6,person,sql,2024-02-25 00:00:00,ae2,
        p6,person,mql,2024-02-12 00:00:00,sdr2,
        o3,opportunity,lost,2024-04-01 00:00:00,ae2,price
        p7,person,mql,2024-03-25 00:00:00,sdr1,
        p8,person,mql,2024-03-28 00:00:00,sdr2,
        p8,person,disqualified,2024-03-28 00:00:00,sdr2,bad_data
        p9,person,mql,2024-03-02 00:00:00,sdr1,
        p9,person,recycled,2024-03-04 00:00:00,sdr1,
        p10,person,sal,2024-03-10 00:00:00,sdr2,
        p11,person,mql,2024-03-05 00:00:00,sdr1,
        p11,person,sal,2024-03-06 00:00:00,sdr1,
        p11,person,disqualified,2024-03-08 00:00:00,sdr1,no_need
        p12,person,mql,2024-03-31 18:00:00,sdr2,
        p13,person,mql,2024-02-20 00:00:00,sdr1,
        p13,person,sal,2024-02-21 00:00:00,sdr1,
        p13,person,disqualified,2024-02-21 00:00:00,sdr1,competitor
    """,
    )
    write(
        folder / "touches.csv",
        """
        touch_id,person_id,account_id,at,channel,initiative_id,function,kind
        t01,p1,a1,2024-01-03 20:30:00,outbound,,sales,call
        t02,p1,a1,2024-01-05 09:00:00,outbound,,sales,email
        t03,p2,,2024-02-15 01:00:00,email,,marketing,email
        t04,p2,,2024-02-16 00:00:00,outbound,,sales,call
        t05,p3,,2024-01-05 12:00:00,outbound,,sales,call
        t06,p3,,2024-01-08 00:00:00,outbound,,sales,call
        t07,p5,,2024-02-01 00:00:00,outbound,,sales,email
        t08,p6,,2024-02-12 05:00:00,outbound,,sales,call
        t09,p6,,2024-02-12 05:00:00,outbound,,sales,email
        t10,,a1,2024-01-21 00:00:00,outbound,,sales,meeting
        t11,p6,,2024-03-02 00:00:00,outbound,,sales,meeting
        t12,p11,,2024-03-05 02:00:00,outbound,,sales,call
        t13,p13,,2024-02-20 23:00:00,outbound,,sales,call
    """,
    )
    ws.import_files([folder])


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """The SLA fixture company under a plan with SLAs on five stages (read-only in the tests)."""
    tmp_path = tmp_path_factory.mktemp("sla")
    ws = Workspace.init(tmp_path / "ws", str(write(tmp_path / "plan.yaml", PLAN)))
    load_sla_fixture(ws, tmp_path / "files")
    yield ws  # type: ignore[misc]
    ws.close()


def run(ws: Workspace, fn, *args: object, **kwargs: object) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    """Call a metric function on the workspace's tables."""
    return fn(ws.tables(), ws.schema, ws.plan, *args, **kwargs)  # type: ignore[no-any-return]


# --- the reference: plain loops over records, sharing nothing with missionline.metrics.sla ---


def _none(value: object) -> object:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def reference_handoffs(ws: Workspace) -> list[dict]:
    """Every hand-off with its response, acceptance and rejection, record by record."""
    events = ws.table("stage_events")
    touches = ws.table("touches")
    people = ws.table("people").set_index("person_id")
    opps = ws.table("opportunities").set_index("opportunity_id")
    owners = ws.table("owners").set_index("owner_id")
    accounts = ws.table("accounts").set_index("account_id")
    by_record: dict[str, list[tuple]] = defaultdict(list)
    for row in events.itertuples():
        by_record[row.record_id].append((row.entered_at, row.stage, _none(row.reason)))
    sales = touches[touches["function"] == "sales"]

    def linked(record: str, rtype: str, target: str) -> list[str]:
        if rtype == target:
            return [record]
        return [o for o, row in opps.iterrows() if row["person_id"] == record]  # person -> opp

    def touch_times(record: str, rtype: str) -> list[datetime]:
        if rtype == "person":
            return list(sales.loc[sales["person_id"] == record, "at"])
        person, account = opps.loc[record, "person_id"], opps.loc[record, "account_id"]
        mask = (sales["person_id"] == person) | (sales["account_id"] == account)
        return list(sales.loc[mask, "at"])

    def segment(record: str, rtype: str) -> object:
        account = (
            people.loc[record, "account_id"]
            if rtype == "person"
            else opps.loc[record, "account_id"]
        )
        return _none(accounts["segment"].get(account)) if _none(account) else None

    out = []
    for stage, (source, until, hours, accept, rtype) in SPECS.items():
        for record, rows in by_record.items():
            entries = sorted({(t, owner) for t, s, owner in _source_rows(events, record, source)})
            for k, (at, owner) in enumerate(entries):
                end = entries[k + 1][0] if k + 1 < len(entries) else None

                def inside(t: datetime, at: datetime = at, end: datetime | None = end) -> bool:
                    return t >= at and (end is None or t < end)

                if until == "first_sales_touch":
                    answers = [t for t in touch_times(record, rtype) if inside(t)]
                else:
                    answers = [
                        t
                        for r in linked(record, rtype, STAGE_TYPE[until])
                        for t, s, _ in by_record.get(r, [])
                        if s == until and inside(t)
                    ]
                accept_type = STAGE_TYPE.get(accept[0], "person")
                accepted = [
                    t
                    for r in linked(record, rtype, accept_type)
                    for t, s, _ in by_record.get(r, [])
                    if s in accept and inside(t)
                ]
                exits = sorted(
                    (t, s, reason or "")
                    for t, s, reason in rows
                    if s in EXITS and EXIT_TYPE[s] == rtype and inside(t)
                )
                responded = min(answers) if answers else None
                first_accept = min(accepted) if accepted else None
                response = None if responded is None else (responded - at).total_seconds() / 3600
                rejected = bool(
                    exits
                    and EXITS[exits[0][1]] in ("disqualified", "recycled")
                    and (first_accept is None or first_accept > exits[0][0])
                )
                owner_id = _none(owner)
                out.append(
                    {
                        "stage": stage,
                        "record_id": record,
                        "entered_at": at,
                        "owner": owner_id,
                        "team": _none(owners["team"].get(owner_id)) if owner_id else None,
                        "owner_name": _none(owners["name"].get(owner_id)) if owner_id else None,
                        "segment": segment(record, rtype),
                        "period": pd.Timestamp(at.year, at.month, 1).date(),
                        "hours": response,
                        "within": response is not None and response <= hours,
                        "accepted_at": first_accept,
                        "exit_at": exits[0][0] if exits else None,
                        "rejected": rejected,
                        "exit_stage": exits[0][1] if rejected else None,
                        "reason": (exits[0][2] or "unspecified") if rejected else None,
                        "responded_at": responded,
                        "next_at": end,
                    }
                )
    return out


def _source_rows(events: pd.DataFrame, record: str, stage: str) -> list[tuple]:
    rows = events[(events["record_id"] == record) & (events["stage"] == stage)]
    return [(t, stage, _none(o)) for t, o in zip(rows["entered_at"], rows["owner_id"], strict=True)]


def reference_sla(ws: Workspace, by: list[str], period: bool) -> pd.DataFrame:
    """Aggregate the reference hand-offs the way the SLA table is defined."""
    keys = [*by, *(["period"] if period else [])]
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for h in reference_handoffs(ws):
        groups[(h["stage"], *(h[k] for k in keys))].append(h)
    if not keys:
        for stage in SPECS:
            groups.setdefault((stage,), [])
    rows = []
    for key, items in groups.items():
        stage = key[0]
        n = len(items)
        hours = [h["hours"] for h in items if h["hours"] is not None]
        within = sum(h["within"] for h in items)
        accepted = sum(h["accepted_at"] is not None for h in items)
        rejected = sum(h["rejected"] for h in items)
        rows.append(
            {
                "stage": stage,
                "measured_from": SPECS[stage][0],
                "until": SPECS[stage][1],
                "sla_hours": SPECS[stage][2],
                "handed_over": n,
                "answered": len(hours),
                "within_sla": within,
                "share_within_sla": within / n if n else None,
                "median_hours": float(np.quantile(hours, 0.5)) if hours else None,
                "p90_hours": float(np.quantile(hours, 0.9)) if hours else None,
                "accepted": accepted,
                "acceptance_rate": accepted / n if n else None,
                "rejected": rejected,
                "rejection_rate": rejected / n if n else None,
                **dict(zip(keys, key[1:], strict=True)),
            }
        )
    return pd.DataFrame(rows)


def assert_same(engine: pd.DataFrame, ref: pd.DataFrame, keys: list[str]) -> None:
    """Compare two frames row by row (same columns, same rows), floats up to rounding."""
    assert set(engine.columns) == set(ref.columns)
    engine = engine.sort_values(keys, key=lambda s: s.astype(str)).reset_index(drop=True)
    ref = ref.sort_values(keys, key=lambda s: s.astype(str)).reset_index(drop=True)
    assert len(engine) == len(ref), (engine[keys], ref[keys])
    left_rows, right_rows = records(engine), records(ref[list(engine.columns)])
    for left, right in zip(left_rows, right_rows, strict=True):
        for column, a in left.items():
            b = right[column]
            if isinstance(a, float) or isinstance(b, float):
                assert a == pytest.approx(b, rel=1e-12, abs=1e-9), (column, left, right)
            else:
                assert a == b, (column, left, right)


def test_sla_matches_reference(loaded: Workspace) -> None:
    """Every number per SLA stage equals the record-by-record reference."""
    assert_same(run(loaded, sla), reference_sla(loaded, [], False), ["stage"])


@pytest.mark.parametrize(
    ("by", "period"), [(["owner"], False), (["team"], True), (["segment"], False)]
)
def test_sla_by_dimension_matches_reference(loaded: Workspace, by: list[str], period: bool) -> None:
    """Grouped by the hand-off's owner, its team, the record's segment (nulls) and month."""
    engine = run(loaded, sla, by, "month" if period else None)
    keys = ["stage", *by, *(["period"] if period else [])]
    assert_same(engine, reference_sla(loaded, by, period), keys)


def test_known_values(loaded: Workspace) -> None:
    """Hand-checked: ties, answers before hand-off, re-entries, inclusive limits, skips."""
    frame = run(loaded, sla).set_index("stage")
    mql = frame.loc["mql"]
    # 12 hand-offs (p2 twice); answered 0, 2, 5, 10, 23, 24 and 48 hours after the hand-off
    assert (mql.handed_over, mql.answered, mql.within_sla) == (12, 7, 6)
    assert mql.median_hours == pytest.approx(10.0)
    assert (mql.accepted, mql.rejected) == (6, 4)  # p13: sal and disqualified tie -> accepted
    sql = frame.loc["sql"]
    assert (sql.handed_over, sql.answered, sql.within_sla) == (4, 3, 2)  # 168h exactly is within
    assert frame.loc["opportunity", "answered"] == 2  # o1 by an account touch, o3 by its person
    assert frame.loc["won", "measured_from"] == "opportunity"
    assert (frame.loc["won", "handed_over"], frame.loc["won", "within_sla"]) == (3, 0)


def test_rejections_match_reference(loaded: Workspace) -> None:
    """Rejections per stage, exit and reason equal the reference, with unspecified reasons."""
    engine = run(loaded, rejections)
    handoffs = reference_handoffs(loaded)
    counts: dict[tuple, int] = defaultdict(int)
    totals: dict[str, int] = defaultdict(int)
    for h in handoffs:
        totals[h["stage"]] += 1
        if h["rejected"]:
            counts[h["stage"], h["exit_stage"], h["reason"]] += 1
    got = {
        (r.stage, r.exit_stage, r.reason): (r.rejected, r.handed_over, r.rejection_rate)
        for r in engine.itertuples()
    }
    assert got == {k: (v, totals[k[0]], pytest.approx(v / totals[k[0]])) for k, v in counts.items()}
    assert ("mql", "recycled", "unspecified") in got
    assert engine.groupby("stage")["rejected"].sum().to_dict() == {"mql": 4, "sal": 2}


def test_open_breaches_fixed_as_of(loaded: Workspace) -> None:
    """The morning list at a fixed moment: overdue, unanswered, still open hand-offs by owner."""
    as_of = datetime(2024, 3, 31, 12)
    frame = run(loaded, open_breaches, as_of)
    got = [
        (r.owner_name, r.stage, r.record_id, r.hours_waiting, r.sla_hours)
        for r in frame.itertuples()
    ]
    assert got == [
        ("Ann", "mql", "p7", 156.0, 24.0),
        ("Bob", "sal", "p2", 1062.0, 48.0),
        ("Bob", "sal", "p10", 516.0, 48.0),
        ("Dee", "opportunity", "o2", 1428.0, 72.0),
        ("Dee", "won", "o2", 1428.0, 720.0),
        ("Dee", "won", "o3", 732.0, 720.0),
        ("Dee", "sql", "p6", 276.0, 168.0),
    ]
    assert list(frame.columns) == [
        "stage",
        "record_id",
        "owner_id",
        "owner_name",
        "team",
        "entered_at",
        "hours_waiting",
        "sla_hours",
    ]
    # the reference: waiting at as_of (nothing closed it yet) and longer than the SLA
    ref = set()
    for h in reference_handoffs(loaded):
        closed = [h["responded_at"], h["accepted_at"], h["exit_at"], h["next_at"]]
        waiting = (as_of - h["entered_at"]).total_seconds() / 3600
        is_open = not any(t is not None and t <= as_of for t in closed)
        if h["entered_at"] <= as_of and is_open and waiting > SPECS[h["stage"]][2]:
            ref.add((h["stage"], h["record_id"], waiting))
    assert ref == {(s, r, w) for _, s, r, w, _ in got}


def test_open_breaches_default_as_of(loaded: Workspace) -> None:
    """By default the list is taken at the data's latest timestamp: o3 was lost by then."""
    frame = run(loaded, open_breaches)
    assert ("won", "o3") not in set(zip(frame["stage"], frame["record_id"], strict=True))
    assert "p12" not in set(frame["record_id"])  # handed over 6 hours before: not yet late
    assert frame["hours_waiting"].gt(frame["sla_hours"]).all()


def test_sla_hours_parses_units() -> None:
    """24h, 2d and 1w are 24, 48 and 168 hours; nonsense is a user error."""
    assert [sla_hours(t) for t in ("24h", "2d", "1w", "1.5d")] == [24, 48, 168, 36]
    with pytest.raises(MissionlineError):
        sla_hours("soon")


def test_empty_workspace(tmp_path: Path) -> None:
    """With no data each SLA stage has a row with zero hand-offs and no rates."""
    ws = Workspace.init(tmp_path / "ws", str(write(tmp_path / "plan.yaml", PLAN)))
    frame = run(ws, sla)
    assert frame["stage"].tolist() == list(SPECS)
    assert (frame["handed_over"] == 0).all() and frame["share_within_sla"].isna().all()
    assert run(ws, open_breaches).empty and run(ws, rejections).empty
    assert sla_section(ws) is None
    ws.close()


def _cli(folder: Path, *args: str) -> object:
    app = typer.Typer()
    app.callback()(lambda: None)  # keep `sla` a subcommand, as in the real app
    register_sla_commands(app)
    return CliRunner().invoke(app, ["sla", "-w", str(folder), *args])


def test_cli_json_contract(loaded: Workspace) -> None:
    """`sla -f json --by team --period month` prints the documented keys per row."""
    folder = loaded.folder  # DuckDB lets one process open the same file twice
    result = _cli(folder, "-f", "json", "--by", "team", "--period", "month")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    rows = json.loads(result.output)  # type: ignore[attr-defined]
    assert {
        "stage",
        "sla_hours",
        "handed_over",
        "within_sla",
        "share_within_sla",
        "median_hours",
        "p90_hours",
        "accepted",
        "acceptance_rate",
        "team",
        "period",
    } <= set(rows[0])
    opened = _cli(folder, "--open", "--as-of", "2024-03-31T12:00", "-f", "json")
    assert [r["record_id"] for r in json.loads(opened.output)][:3] == ["p7", "p2", "p10"]  # type: ignore[attr-defined]
    bad = _cli(folder, "--as-of", "2024-03-31")
    assert isinstance(bad.exception, MissionlineError)  # type: ignore[attr-defined]


def test_report_section(loaded: Workspace) -> None:
    """The section has a chart, the SLA table and a reading that names the weakest stage."""
    section = sla_section(loaded)
    assert section is not None and len(section.charts) == 1
    assert section.rows[0]["stage"] == "mql"
    assert "won hand-offs reached won within 30d" in section.reading
    assert "overdue now" in section.reading


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, dict]:
    """A 20,000-lead demo company imported into a workspace, with its truth."""
    folder = tmp_path_factory.mktemp("sla_demo")
    company = generate_company(leads=20_000, seed=5)
    write_company(company, folder / "data")
    ws = Workspace.init(folder / "ws", "demo")
    ws.import_files([folder / "data"])
    yield ws, company.truth  # type: ignore[misc]
    ws.close()


def test_demo_response_median_by_team_recovers_truth(demo: tuple[Workspace, dict]) -> None:
    """The MQL response median and share within 24h per SDR team are within 4 standard errors."""
    ws, truth = demo
    frame = run(ws, sla, ["team"])
    rows = frame[frame["stage"] == "mql"].set_index("team")
    expected = truth["sla_response_hours"]
    assert set(rows.index) == set(expected)
    for team, params in expected.items():
        row = rows.loc[team]
        median, sigma = params["median"], params["sigma"]
        # the sample median of a lognormal: standard error median * sigma * sqrt(pi / 2) / sqrt(n)
        se = median * sigma * math.sqrt(math.pi / 2) / math.sqrt(row.answered)
        assert abs(row.median_hours - median) < 4 * se, (team, row.median_hours, median)
        share = norm.cdf(math.log(24 / median) / sigma)
        se_share = math.sqrt(share * (1 - share) / row.handed_over)
        assert abs(row.share_within_sla - share) < 4 * se_share + 0.002, (team, share)
