"""Inputs per stage, capacity and efficiency agree with plain references on awkward fixtures."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from missionline.cli.revenue import register_revenue_commands
from missionline.demo.generator import generate_company, write_company
from missionline.errors import MissionlineError
from missionline.metrics.inputs import capacity, efficiency, inputs
from missionline.workspace import Workspace

from conftest import load_fixture, write

PLAN = """
company: Fixture
functions: [{id: marketing, name: Marketing}, {id: sales, name: Sales}]
segments:
  - {id: computing, name: Computing, priority: 1}
  - {id: transportation, name: Transportation, priority: 2}
markets: [{id: europe, name: Europe, priority: 1}, {id: japan, name: Japan, priority: 2}]
messages:
  - {id: msg_c, segment: computing, statement: Fast.}
  - {id: msg_t, segment: transportation, market: japan, statement: Safe.}
initiatives:
  - {id: ini_web, name: Webinars, function: marketing, channel: webinar, message: msg_c}
  - {id: ini_ev, name: Events, function: marketing, channel: events}
  - {id: ini_x, name: Launch, function: marketing, message: msg_t}
lifecycle:
  stages:
    - {id: lead, name: Lead, next: [mql, disqualified]}
    - {id: mql, name: MQL, next: [sal, disqualified, recycled]}
    - {id: sal, name: SAL, next: [sql, disqualified, recycled]}
    - {id: sql, name: SQL, next: [opportunity, disqualified, recycled]}
    - {id: opportunity, name: Opportunity, record_type: opportunity, next: [won, lost]}
    - {id: won, name: Won, record_type: opportunity, next: [customer]}
    - {id: customer, name: Customer, record_type: account, terminal: true}
    - {id: lost, name: Lost, record_type: opportunity, exit: lost}
    - {id: disqualified, name: Disqualified, exit: disqualified}
    - {id: recycled, name: Recycled, exit: recycled, next: [mql]}
"""
CHANNEL = {"ini_web": "webinar", "ini_ev": "events"}  # the plan's initiative channels
MESSAGE = {"ini_web": "msg_c", "ini_x": "msg_t"}
SEGMENT = {"ini_web": "computing", "ini_x": "transportation"}
MARKET = {"ini_x": "japan"}


def add_inputs(ws: Workspace, folder: Path) -> None:
    """Add initiatives to people, spend, touches, owners with capacity and more deals."""
    write(
        folder / "people.csv",
        """
        person_id,account_id,created_at,source_channel,first_initiative_id
        p1,a1,2024-01-01,webinar,ini_web
        p2,a1,2024-01-02,events,ini_ev
        p3,a2,2024-01-03,webinar,ini_web
        p4,,2024-01-04,,
        p5,a3,2024-02-01,events,ini_x
        p6,a2,2024-02-10,webinar,
    """,
    )
    # spend without a channel: through the plan (ini_web), or unattributable (ini_x, sales,
    # customer success); paid_search has spend and no entries; events spend spans a quarter.
    write(
        folder / "spend.csv",
        """
        initiative_id,channel,function,period_start,period_end,amount,currency
        ini_web,webinar,marketing,2024-01-01,2024-02-01,100,USD
        ini_web,,marketing,2024-02-01,2024-03-01,50,USD
        ini_ev,events,marketing,2024-01-01,2024-04-01,300,USD
        ,,sales,2024-01-01,2024-02-01,1000,USD
        ini_x,,marketing,2024-03-01,2024-04-01,80,USD
        ,paid_search,marketing,2024-02-01,2024-03-01,70,USD
        ,,customer_success,2024-04-01,2024-05-01,40,USD
    """,
    )
    # t4 touches an account only; t5 a person without channel or account; t7 is another function.
    write(
        folder / "touches.csv",
        """
        touch_id,person_id,account_id,at,channel,initiative_id,function,kind
        t1,p1,a1,2024-01-02,webinar,ini_web,marketing,webinar
        t2,p1,,2024-01-05,content,,marketing,email
        t3,p3,a2,2024-01-20,outbound,,sales,call
        t4,,a1,2024-02-01,events,ini_ev,marketing,event
        t5,p4,,2024-01-04,paid_search,,marketing,ad
        t6,p6,a2,2024-03-01,outbound,,sales,meeting
        t7,p2,a1,2024-02-20,outbound,,customer_success,call
        t8,p1,a1,2024-03-02,outbound,,sales,demo
        t9,p5,a3,2024-02-02,events,ini_x,marketing,event
    """,
    )
    write(
        folder / "owners.csv",
        """
        owner_id,name,function,team,capacity
        u1,Ann,sales,east,2
        u2,Bo,sales,west,0
        u3,Cy,marketing,demand,
        u4,Di,sales,west,
    """,
    )
    # o9 is won without a close date; o10 is won without an account.
    write(
        folder / "opportunities.csv",
        """
        opportunity_id,account_id,person_id,created_at,closed_at,amount,currency,status,kind,owner_id,loss_reason
        o4,a1,p2,2024-02-10,2024-05-15,2000,USD,won,expansion,u1,
        o5,a3,p5,2024-03-05,,300,USD,open,new,u1,
        o6,a3,,2024-03-10,2024-04-10,800,USD,won,new,u2,
        o7,a2,p3,2024-04-01,,,USD,open,new,u4,
        o8,a2,,2024-04-15,2024-06-01,1500,USD,won,new,u2,
        o9,a1,,2024-05-01,,400,USD,won,new,u1,
        o10,,,2024-05-20,2024-05-25,600,USD,won,new,,
    """,
    )
    write(
        folder / "stage_events.csv",
        """
        record_id,record_type,stage,entered_at,owner_id,reason
        a1,account,customer,2024-03-02 00:00:00,,
        a2,account,customer,2024-05-20 00:00:00,,
    """,
    )
    ws.import_files([folder])


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """The fixture company with initiatives, spend, touches and capacity (read-only)."""
    tmp_path = tmp_path_factory.mktemp("inputs")
    ws = Workspace.init(tmp_path / "ws", str(write(tmp_path / "plan.yaml", PLAN)))
    load_fixture(ws, tmp_path / "base")
    add_inputs(ws, tmp_path / "more")
    yield ws  # type: ignore[misc]
    ws.close()


# --- references, record by record ----------------------------------------------------------------


def _clean(value: object) -> object:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def _period(ts: object, period: str | None) -> object:
    if period is None:
        return None
    stamp = pd.Timestamp(ts)  # type: ignore[arg-type]
    months = {"month": 1, "quarter": 3}[period]
    return date(stamp.year, (stamp.month - 1) // months * months + 1, 1)


def rows_of(ws: Workspace, table: str) -> list[dict]:
    """A table's rows as dicts with None for nulls."""
    return [{k: _clean(v) for k, v in r.items()} for r in ws.table(table).to_dict("records")]


def person_values(person: dict | None, accounts: dict, name: str) -> object:
    """A person's value of an inputs dimension."""
    if person is None:
        return None
    if name == "channel":
        return person["source_channel"]
    if name == "initiative":
        return person["first_initiative_id"]
    if name == "message":
        return MESSAGE.get(person["first_initiative_id"])
    return _clean(accounts.get(person["account_id"], {}).get(name))


def reference_inputs(ws: Workspace, by: Sequence[str], period: str | None) -> pd.DataFrame:
    """Cost, touches and activities per stage entry, computed one record at a time."""
    people = {p["person_id"]: p for p in rows_of(ws, "people")}
    accounts = {a["account_id"]: a for a in rows_of(ws, "accounts")}
    deals = {o["opportunity_id"]: o for o in rows_of(ws, "opportunities")}
    stages = [s.id for s in ws.plan.lifecycle.path()]
    types = {s.id: s.record_type for s in ws.plan.lifecycle.stages}

    def record_key(record: str, rtype: str) -> tuple:
        if rtype == "account":
            return tuple(
                _clean(accounts[record].get(b)) if b in ("segment", "market") else None for b in by
            )
        if rtype == "opportunity":
            deal = deals[record]
            person = people.get(deal["person_id"])
            return tuple(
                _clean(accounts.get(deal["account_id"], {}).get(b))
                if b in ("segment", "market")
                else person_values(person, accounts, b)
                for b in by
            )
        return tuple(person_values(people[record], accounts, b) for b in by)

    first: dict[tuple, object] = {}
    for e in rows_of(ws, "stage_events"):
        if e["stage"] not in stages:
            continue
        k = (e["record_id"], e["stage"], _period(e["entered_at"], period))
        first[k] = min(first.get(k, e["entered_at"]), e["entered_at"])
    entries: dict[tuple, int] = defaultdict(int)
    for (record, stage, per), _ in first.items():
        entries[(*record_key(record, types[stage]), per, stage)] += 1
    spend: dict[tuple, float] = defaultdict(float)
    for s in rows_of(ws, "spend"):
        values = {
            "channel": s["channel"] or CHANNEL.get(s["initiative_id"]),
            "initiative": s["initiative_id"],
            "message": MESSAGE.get(s["initiative_id"]),
            "segment": SEGMENT.get(s["initiative_id"]),
            "market": MARKET.get(s["initiative_id"]),
        }
        spend[(*(values[b] for b in by), _period(s["period_start"], period))] += s["amount"]
    touches: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    for t in rows_of(ws, "touches"):
        person = people.get(t["person_id"])
        account = (person or {}).get("account_id") or t["account_id"]
        key = tuple(
            _clean(accounts.get(account, {}).get(b))
            if b in ("segment", "market")
            else person_values(person, accounts, b)
            for b in by
        )
        cell = touches[(*key, _period(t["at"], period))]
        cell[0] += t["function"] == "marketing"
        cell[1] += t["function"] == "sales"
    groups = {k[:-1] for k in entries} | set(spend) | set(touches)
    out = []
    for group in groups:
        attributed = all(v is not None for v in group[: len(by)])
        for stage in stages:
            n = entries.get((*group, stage), 0)
            ok = n > 0 and attributed
            cost = spend.get(group, 0.0)
            marketing, sales = touches.get(group, [0, 0])
            row = dict(zip(by, group[: len(by)], strict=True))
            if period:
                row["period"] = group[-1]
            row.update(
                stage=stage,
                entries=n,
                spend=cost,
                cost_per_entry=cost / n if ok else None,
                touches=marketing,
                touches_per_entry=marketing / n if ok else None,
                sales_activities=sales,
                sales_activities_per_entry=sales / n if ok else None,
            )
            out.append(row)
    return pd.DataFrame(out)


def assert_same(engine: pd.DataFrame, ref: pd.DataFrame, keys: list[str]) -> None:
    """Compare two frames row by row, exactly up to float rounding, nulls included."""
    engine = engine.sort_values(keys, key=lambda s: s.astype(str)).reset_index(drop=True)
    ref = ref.sort_values(keys, key=lambda s: s.astype(str)).reset_index(drop=True)
    assert len(engine) == len(ref), (engine, ref)
    for column in ref.columns:
        left = engine[column].astype(object).where(engine[column].notna(), None).tolist()
        right = ref[column].astype(object).where(ref[column].notna(), None).tolist()
        for a, b in zip(left, right, strict=True):
            if isinstance(a, float) or isinstance(b, float):
                assert a is not None and b is not None, (column, left, right)
                assert a == pytest.approx(b, rel=1e-12), (column, left, right)
            else:
                assert a == b, (column, left, right)


def run(ws: Workspace, **kwargs: object) -> pd.DataFrame:
    """The engine's inputs on a workspace."""
    return inputs(ws.tables(), ws.schema, ws.plan, **kwargs)  # type: ignore[arg-type]


# --- cost, touches and activities per stage ------------------------------------------------------


BYS = [
    ("channel",),
    ("initiative",),
    ("message",),
    ("segment",),
    ("market",),
    ("channel", "segment"),
]


@pytest.mark.parametrize("by", BYS)
def test_inputs_match_reference(loaded: Workspace, by: tuple[str, ...]) -> None:
    """Every group (null and empty ones included) matches the record-by-record reference."""
    assert_same(run(loaded, by=by), reference_inputs(loaded, by, None), [*by, "stage"])


@pytest.mark.parametrize(("by", "period"), [(("channel",), "month"), ((), "quarter")])
def test_inputs_by_period_match_reference(
    loaded: Workspace, by: tuple[str, ...], period: str
) -> None:
    """Spend by its period_start, entries and touches by their own dates, period by period."""
    engine = run(loaded, by=by, period=period)
    assert_same(engine, reference_inputs(loaded, by, period), [*by, "period", "stage"])


def test_known_values(loaded: Workspace) -> None:
    """Hand-checked: plan-filled channel spend, unattributed spend, per-opportunity activities."""
    frame = run(loaded).set_index(["channel", "stage"], drop=False)
    webinar = frame.loc[("webinar", "lead")]
    assert webinar["spend"] == 150  # 100 + 50 booked to ini_web without a channel
    assert webinar["cost_per_entry"] == 50  # p1, p3, p6
    opportunity = frame.loc[("webinar", "opportunity")]  # o1, o2, o3
    assert opportunity["touches_per_entry"] == pytest.approx(2 / 3)  # t1, t2
    assert opportunity["sales_activities_per_entry"] == 1  # t3, t6, t8
    assert frame.loc[("paid_search", "lead"), "entries"] == 0
    assert math.isnan(frame.loc[("paid_search", "lead"), "cost_per_entry"])
    unattributed = frame[frame["channel"].isna()].set_index("stage")
    assert unattributed.loc["lead", "spend"] == 1120  # sales, ini_x, customer success
    assert unattributed["cost_per_entry"].isna().all()
    assert unattributed.loc["customer", "entries"] == 2  # accounts have no channel
    total = run(loaded, by=()).set_index("stage")
    assert total.loc["lead", "spend"] == 1640
    assert total.loc["lead", "cost_per_entry"] == pytest.approx(1640 / 6)


def test_empty_workspace(workspace: Workspace) -> None:
    """With no data: one zero row per stage in total, and no groups, owners or periods."""
    tables, schema, plan = workspace.tables(), workspace.schema, workspace.plan
    total = inputs(tables, schema, plan, by=())
    assert total["entries"].tolist() == [0] * 6 and total["cost_per_entry"].isna().all()
    assert inputs(tables, schema, plan).empty
    assert capacity(tables, schema, plan).empty
    assert efficiency(tables, schema, plan).empty


def test_unknown_dimension_is_a_user_error(loaded: Workspace) -> None:
    """Spend cannot be split by owner: a clear MissionlineError."""
    with pytest.raises(MissionlineError, match="cannot be grouped by 'owner'"):
        run(loaded, by=["owner"])


# --- capacity and efficiency --------------------------------------------------------------------


def reference_capacity(ws: Workspace, as_of: pd.Timestamp) -> dict[object, tuple]:
    """Owner -> (capacity, open deals, open amount, use), deal by deal."""
    owners = {o["owner_id"]: o for o in rows_of(ws, "owners")}
    load: dict[object, list[float]] = defaultdict(lambda: [0, 0.0])
    for d in rows_of(ws, "opportunities"):
        later = d["closed_at"] is not None and d["closed_at"] >= as_of
        if d["created_at"] < as_of and (d["status"] == "open" or later):
            load[d["owner_id"]][0] += 1
            load[d["owner_id"]][1] += d["amount"] or 0.0
    keep = {k for k, o in owners.items() if o["capacity"] is not None} | set(load)
    out = {}
    for owner in keep:
        cap = owners.get(owner, {}).get("capacity")
        count, amount = load.get(owner, [0, 0.0])
        out[owner] = (cap, count, amount, count / cap if cap else None)
    return out


@pytest.mark.parametrize("as_of", [None, "2024-04-05"])
def test_capacity_matches_reference(loaded: Workspace, as_of: str | None) -> None:
    """Open deals per owner over capacity, at the data end and at an earlier date."""
    frame = capacity(loaded.tables(), loaded.schema, loaded.plan, as_of)
    stamp = pd.Timestamp(as_of or "2024-06-02")  # the midnight after o8 closed on 1 June
    got = {
        _clean(r.owner_id): (
            None if pd.isna(r.capacity) else int(r.capacity),
            r.open_opportunities,
            r.open_amount,
            _clean(r.capacity_use),
        )
        for r in frame.itertuples()
    }
    assert got == reference_capacity(loaded, stamp)
    if as_of is None:
        assert got["u1"] == (2, 1, 300.0, 0.5) and got["u2"][3] is None


def test_efficiency_known_values(loaded: Workspace) -> None:
    """Q1: 1,600 of sales and marketing spend, one new customer; Q2: magic number on Q1 spend."""
    frame = efficiency(loaded.tables(), loaded.schema, loaded.plan).set_index("period")
    q1, q2 = frame.loc[date(2024, 1, 1)], frame.loc[date(2024, 4, 1)]
    assert (q1["marketing_spend"], q1["sales_spend"], q1["new_customers"]) == (600, 1000, 1)
    assert q1["cac"] == 1600 and math.isnan(q1["magic_number"])
    assert q2["spend"] == 0  # customer-success spend is neither sales nor marketing
    assert q2["new_customers"] == 2  # a3 (o6) and a2 (o8); o10 has no account, o9 no date
    assert (q2["new_bookings"], q2["expansion_bookings"]) == (2900, 2000)
    assert q2["cac"] == 0
    assert q2["magic_number"] == pytest.approx(4900 / 1600)
    assert list(frame.index) == [date(2024, 1, 1), date(2024, 4, 1)]


def test_cli_views_and_errors(loaded: Workspace) -> None:
    """`missionline inputs` prints cost per stage, --capacity and --efficiency; bad mixes fail."""
    app = typer.Typer()
    register_revenue_commands(app)
    folder = str(loaded.folder)
    result = CliRunner().invoke(app, ["inputs", "-w", folder, "--by", "segment", "-f", "json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert {"segment", "stage", "spend", "cost_per_entry"} <= set(rows[0])
    result = CliRunner().invoke(app, ["inputs", "-w", folder, "--capacity", "-f", "json"])
    assert {"owner_id", "capacity_use"} <= set(json.loads(result.output)[0])
    result = CliRunner().invoke(
        app, ["inputs", "-w", folder, "--efficiency", "--period", "month", "-f", "csv"]
    )
    assert result.exit_code == 0 and result.output.startswith("period,marketing_spend")
    result = CliRunner().invoke(app, ["inputs", "-w", folder, "--capacity", "--efficiency"])
    assert isinstance(result.exception, MissionlineError)


# --- the demo ------------------------------------------------------------------------------------


def test_demo_spend_adds_up_and_matches_pandas(tmp_path: Path) -> None:
    """Small demo: spend per channel adds up, unspent initiatives cost 0, CAC matches pandas."""
    company = generate_company(leads=4_000, seed=3)
    write_company(company, tmp_path / "data")
    with Workspace.init(tmp_path / "ws", "demo") as ws:
        ws.import_files([tmp_path / "data"])
        tables, schema, plan = ws.tables(), ws.schema, ws.plan
        by_channel = inputs(tables, schema, plan, by=["channel"])
        by_initiative = inputs(tables, schema, plan, by=["initiative"])
        eff = efficiency(tables, schema, plan, "quarter")
        spend, deals = ws.table("spend"), ws.table("opportunities")
    total = by_channel.drop_duplicates("channel")["spend"].sum()
    assert total == pytest.approx(spend["amount"].sum())
    unspent = {i["id"] for i in company.truth["initiatives"] if not i["has_spend"]}
    rows = by_initiative[by_initiative["initiative"].isin(unspent) & (by_initiative["entries"] > 0)]
    assert len(rows) and (rows["spend"] == 0).all() and (rows["cost_per_entry"] == 0).all()
    quarter = spend["period_start"].dt.to_period("Q").dt.start_time.dt.date
    sm = spend[spend["function"].isin(["sales", "marketing"])].groupby(quarter)["amount"].sum()
    won = deals[(deals["status"] == "won") & deals["closed_at"].notna()]
    firsts = won.groupby("account_id")["closed_at"].min().dt.to_period("Q").dt.start_time.dt.date
    customers = firsts.value_counts()
    frame = eff.set_index("period")
    for period, row in frame.iterrows():
        n = customers.get(period, 0)
        assert row["new_customers"] == n
        expected = sm.get(period, 0.0) / n if n else None
        assert (
            row["cac"] == pytest.approx(expected) if expected is not None else pd.isna(row["cac"])
        )
