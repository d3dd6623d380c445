"""The revenue wave agrees with a plain reference, finds known lags and shows the demo's crunch."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer

from missionline.cli.wave import register_wave_commands
from missionline.demo.generator import generate_company, write_company
from missionline.errors import MissionlineError
from missionline.metrics.wave import COLUMNS, wave
from missionline.metrics.wave_analysis import best_lag, collisions, quarter_crunches, wave_lag
from missionline.report.wave_section import wave_section
from missionline.workspace import Workspace

from conftest import load_fixture, write

# The fixture company's second import: reps with and without capacity, opportunities of every
# kind (a renewal, no kind, won without a date, open with an expected close date, a close dated
# before its creation), touches on week boundaries and without a person, and spend periods
# that cross weeks, start at noon, have no length, or belong to sales.
EXTRA = {
    "owners.csv": """
        owner_id,name,function,team,capacity
        r1,Ann,sales,ae_eu,3
        r2,Bob,sales,ae_jp,2
        r3,Cy,sales,sdr,
        m1,Dee,marketing,content,
    """,
    "opportunities.csv": """
        opportunity_id,account_id,person_id,created_at,closed_at,amount,currency,status,kind,owner_id,loss_reason
        o1,a1,p1,2024-01-20,2024-03-01,1000,USD,won,new,r1,
        o2,a2,p3,2024-02-01,,500,USD,open,new,r2,
        o3,a2,p6,2024-03-01,2024-04-01,700,USD,lost,new,r3,price
        o4,a1,,2024-02-05,2024-02-20 15:00:00,300,USD,won,expansion,r1,
        o5,a1,,2024-02-26,2024-03-04,999,USD,won,renewal,r1,
        o6,a3,p5,2024-03-05,,50,USD,won,,r2,
        o7,a3,p5,2024-01-31,2024-02-10,80,USD,open,new,r2,
        o8,a2,,2024-03-10,2024-03-01,60,USD,lost,new,r1,competitor
    """,
    "touches.csv": """
        touch_id,person_id,account_id,at,channel,initiative_id,function,kind
        t1,p1,a1,2024-01-02 10:00:00,webinar,,marketing,webinar
        t2,p2,,2024-01-08 00:00:00,events,,marketing,event
        t3,,a2,2024-01-10 12:00:00,paid_search,,marketing,ad
        t4,,,2024-01-11 09:00:00,organic,,marketing,web_visit
        t5,p1,a1,2024-01-03 10:00:00,,,sales,call
        t6,p6,a2,2024-06-03 08:00:00,webinar,,marketing,email
        t7,p4,,2024-01-07 23:59:59,content,,marketing,email
    """,
    "spend.csv": """
        initiative_id,channel,function,period_start,period_end,amount,currency
        i_web,webinar,marketing,2024-01-01,2024-02-01,3100,USD
        i_ev,events,marketing,2024-01-03 12:00:00,2024-01-10 12:00:00,70,USD
        ,paid_search,marketing,2024-01-15,2024-01-15,7,USD
        ,,sales,2024-01-01,2024-04-01,9000,USD
        i_late,webinar,marketing,2023-12-30,2024-01-02,30,USD
    """,
}
SERIES = ["marketing_spend", "marketing_touches", "mql_entries", "pipeline_created"]
SERIES += ["bookings", "won_deals", "open_opportunities", "capacity_use", "marketing_load"]


@pytest.fixture
def loaded(workspace: Workspace, tmp_path: Path) -> Workspace:
    """The starter workspace with the awkward fixture company and its wave inputs."""
    load_fixture(workspace, tmp_path / "files")
    for name, text in EXTRA.items():
        write(tmp_path / "extra" / name, text)
    workspace.import_files([tmp_path / "extra"])
    return workspace


def _monday(ts: datetime) -> date:
    return (ts - timedelta(days=ts.weekday())).date()


def _quarter_end(monday: date) -> bool:
    month = 3 * ((monday.month - 1) // 3) + 4
    nxt = date(monday.year + (month > 12), (month - 1) % 12 + 1, 1)
    return (nxt - monday).days <= 14


def _null(value: object) -> object:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def reference_wave(ws: Workspace, by_channel: bool = False) -> pd.DataFrame:
    """Loop over the rows one by one: spend hour by hour, each week's end checked per deal."""
    tab = {n: ws.table(n) for n in ("spend", "touches", "stage_events", "opportunities")}
    owners, people = ws.table("owners"), ws.table("people")
    channel = dict(zip(people["person_id"], people["source_channel"], strict=True))

    def group(person: object) -> object:
        return _null(channel.get(person)) if by_channel and _null(person) else None

    sums: dict[tuple[date, object], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for r in tab["spend"].itertuples():
        if r.function != "marketing":
            continue
        g = _null(r.channel) if by_channel else None
        hours = int((r.period_end - r.period_start) / timedelta(hours=1))
        if hours <= 0:
            sums[_monday(r.period_start), g]["marketing_spend"] += r.amount
        for h in range(hours):
            when = r.period_start + timedelta(hours=h)
            sums[_monday(when), g]["marketing_spend"] += r.amount / hours
    for r in tab["touches"].itertuples():
        if r.function == "marketing":
            sums[_monday(r.at), group(r.person_id)]["marketing_touches"] += 1
    events = tab["stage_events"]
    for person, week in {
        (r, _monday(t))
        for r, s, t in events[["record_id", "stage", "entered_at"]].itertuples(index=False)
        if s == "mql"
    }:
        sums[week, group(person)]["mql_entries"] += 1
    capacity = {o: c for o, c in zip(owners["owner_id"], owners["capacity"], strict=True) if c > 0}
    deals = []
    for r in tab["opportunities"].itertuples():
        g, closed = group(r.person_id), not pd.isna(r.closed_at)
        if (_null(r.kind) or "new") in ("new", "expansion"):
            sums[_monday(r.created_at), g]["pipeline_created"] += r.amount
            if r.status == "won" and closed:
                sums[_monday(r.closed_at), g]["bookings"] += r.amount
                sums[_monday(r.closed_at), g]["won_deals"] += 1
        if r.owner_id in capacity and (r.status == "open" or closed):
            # opening and closing a deal are activity: their weeks belong on the axis
            sums[_monday(r.created_at), g]["_activity"] += 0
            if r.status != "open":
                sums[_monday(max(r.created_at, r.closed_at)), g]["_activity"] += 0
            deals.append((g, r.created_at, r.closed_at if r.status != "open" else None))
    weeks = sorted({w for w, _ in sums})
    axis = [weeks[0] + timedelta(days=7 * i) for i in range((weeks[-1] - weeks[0]).days // 7 + 1)]
    rows = []
    for g in {g for _, g in sums}:
        for week in axis:
            end = datetime.combine(week + timedelta(days=7), datetime.min.time())
            row = {c: sums[week, g][c] for c in SERIES[:6]}
            row["open_opportunities"] = sum(
                1 for dg, c, x in deals if dg == g and c < end and (x is None or x >= end)
            )
            rows.append({"week": week, "group": g, **row})
    out = pd.DataFrame(rows)
    out["capacity_use"] = out["open_opportunities"] / sum(capacity.values())
    ratios = []
    for column in SERIES[:3]:
        mean = out.groupby(out["group"].map(str))[column].transform("mean")
        ratios.append(out[column] / mean.where(mean > 0))
    out["marketing_load"] = pd.concat(ratios, axis=1).mean(axis=1).fillna(0.0)
    out["quarter_end"] = [_quarter_end(w) for w in out["week"]]
    return out


def assert_same(engine: pd.DataFrame, ref: pd.DataFrame, key: str | None) -> None:
    """Compare the engine's wave with the reference week by week and group by group."""
    engine = engine.assign(group=engine[key] if key else None)
    engine = engine.assign(group=engine["group"].map(_null))
    ref = ref.assign(group=ref["group"].map(_null))
    order = ["group", "week"]
    engine = engine.sort_values(order, key=lambda s: s.astype(str)).reset_index(drop=True)
    ref = ref.sort_values(order, key=lambda s: s.astype(str)).reset_index(drop=True)
    assert engine[order].astype(str).values.tolist() == ref[order].astype(str).values.tolist()
    for column in [*SERIES, "quarter_end"]:
        assert np.allclose(engine[column].astype(float), ref[column].astype(float), rtol=1e-12), (
            column,
            engine[column].tolist(),
            ref[column].tolist(),
        )


def test_wave_matches_reference(loaded: Workspace) -> None:
    """Spend spread over its days, touches, MQLs, deals and open deals match the reference."""
    frame = wave(loaded.tables(), loaded.schema, loaded.plan)
    assert list(frame.columns) == COLUMNS
    assert_same(frame, reference_wave(loaded), None)


def test_wave_by_channel_matches_reference(loaded: Workspace) -> None:
    """By channel, spend takes its own channel and records their person's, nulls included."""
    frame = wave(loaded.tables(), loaded.schema, loaded.plan, by=["channel"])
    assert_same(frame, reference_wave(loaded, by_channel=True), "channel")


def test_known_values_and_empty_weeks(loaded: Workspace) -> None:
    """Hand-checked weeks: noon-to-noon spend split 4.5/2.5 days, empty weeks present as zeros."""
    frame = wave(loaded.tables(), loaded.schema, loaded.plan).set_index("week")
    assert frame.index[0] == date(2023, 12, 25) and frame.index[-1] == date(2024, 6, 3)
    assert (np.diff(pd.to_datetime(frame.index)) == np.timedelta64(7, "D")).all()
    assert frame.loc[date(2023, 12, 25), "marketing_spend"] == pytest.approx(20)
    week1 = 10 + 100 * 7 + 70 * 4.5 / 7  # i_late's last day, i_web's first week, i_ev to Monday
    assert frame.loc[date(2024, 1, 1), "marketing_spend"] == pytest.approx(week1)
    assert frame.loc[date(2024, 1, 15), "marketing_spend"] == pytest.approx(700 + 7)
    assert frame.loc[date(2024, 1, 1), "marketing_touches"] == 2  # Sunday 23:59:59 stays
    assert frame.loc[date(2024, 1, 8), "marketing_touches"] == 3  # Monday 00:00 starts a week
    may = frame.loc[date(2024, 5, 13)]
    assert may[SERIES[:6]].sum() == 0 and may["marketing_load"] == 0
    assert may["open_opportunities"] == 2  # o2 and o7 (an expected close date does not close)
    assert frame.loc[date(2024, 3, 4), "open_opportunities"] == 2  # o8 closed before it opened
    assert frame["rep_capacity"].iloc[0] == 5
    assert frame["bookings"].sum() == 1300  # o1 and o4: not the renewal, nor won without a date
    assert frame["marketing_spend"].sum() == pytest.approx(3100 + 70 + 7 + 30)


def test_groups_add_up_to_the_company(loaded: Workspace) -> None:
    """By segment, every additive series sums over the groups to the company's wave."""
    company = wave(loaded.tables(), loaded.schema, loaded.plan).set_index("week")
    grouped = wave(loaded.tables(), loaded.schema, loaded.plan, by=["segment"])
    summed = grouped.groupby("week")[SERIES[:-1]].sum()
    pd.testing.assert_frame_equal(summed, company[SERIES[:-1]], check_dtype=False)


def test_handoff_stage_from_the_plan_or_named(loaded: Workspace) -> None:
    """The hand-off defaults to the last marketing stage before sales; a bad name is an error."""
    lead = wave(loaded.tables(), loaded.schema, loaded.plan, handoff=["lead"])
    assert lead["mql_entries"].sum() == 6
    with pytest.raises(MissionlineError, match="unknown hand-off stage nope"):
        wave(loaded.tables(), loaded.schema, loaded.plan, handoff=["nope"])
    stages = [s.model_copy(update={"owner": "sales"}) for s in loaded.plan.lifecycle.stages]
    lifecycle = loaded.plan.lifecycle.model_copy(update={"stages": stages})
    plan = loaded.plan.model_copy(update={"lifecycle": lifecycle})
    with pytest.raises(MissionlineError, match="no hand-off stage"):
        wave(loaded.tables(), loaded.schema, plan)


def test_empty_workspace(workspace: Workspace) -> None:
    """Without data the wave, the lag and the collisions are empty and the section is left out."""
    frame = wave(workspace.tables(), workspace.schema, workspace.plan)
    assert frame.empty and list(frame.columns) == COLUMNS
    assert best_lag(wave_lag(frame)) is None
    assert collisions(frame).empty and quarter_crunches(frame).empty
    assert wave_section(workspace) is None


def test_lag_finds_a_known_shift() -> None:
    """Bookings that follow MQLs 6 weeks later, plus noise as large as the signal, peak at 6."""
    rng = np.random.default_rng(3)
    n = 104
    mql = np.round(80 + 0.3 * np.arange(n) + rng.normal(0, 15, n))
    bookings = np.r_[rng.normal(4e5, 75e3, 6), 5000 * mql[:-6]] + rng.normal(0, 75e3, n)
    weeks = pd.date_range("2024-01-01", periods=n, freq="7D").date
    lags = wave_lag(pd.DataFrame({"week": weeks, "mql_entries": mql, "bookings": bookings}))
    assert best_lag(lags) == 6
    assert lags["lag_weeks"].tolist() == list(range(27))
    assert lags.loc[6, "correlation"] > 0.5
    with pytest.raises(MissionlineError):
        wave_lag(lags, max_lag_weeks=-1)


def test_collisions_use_quartiles_per_group() -> None:
    """Peaks meeting crunches and idle weeks follow the documented quartiles, group by group."""
    weeks = pd.date_range("2024-01-01", periods=8, freq="7D").date
    base = pd.DataFrame(
        {
            "week": weeks,
            "marketing_load": np.arange(1.0, 9.0),
            "bookings": [0, 0, 0, 0, 0, 0, 10.0, 0],
            "capacity_use": np.arange(1, 9) / 10,
            "quarter_end": False,
        }
    )
    hits = collisions(base)
    assert hits["week"].tolist() == [weeks[0], weeks[1], weeks[6], weeks[7]]
    assert hits["kind"].tolist() == ["idle", "idle", "collision", "collision"]
    assert hits["crunch"].tolist() == [None, None, "bookings+capacity", "capacity"]
    quiet = base.assign(capacity_use=0.0, bookings=0.0, segment="none")
    grouped = collisions(pd.concat([base.assign(segment="a"), quiet]))
    assert set(grouped["segment"]) == {"a"}  # a group that never holds a deal is never idle


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, dict, pd.DataFrame]:
    """A 60,000-lead demo company, its truth and its wave."""
    folder = tmp_path_factory.mktemp("wave_demo")
    company = generate_company(leads=60_000, seed=11)
    write_company(company, folder / "data")
    ws = Workspace.init(folder / "ws", "demo")
    ws.import_files([folder / "data"])
    yield ws, company.truth, wave(ws.tables(), ws.schema, ws.plan)  # type: ignore[misc]
    ws.close()


def _expected_quarter_end_share(quarter: date, share: float, days: float) -> float:
    """Share of a quarter's closes in its quarter-end weeks if closes were uniform but crunched.

    A close not already in the last ``days`` days slips into them with probability ``share``;
    the quarter's weeks run Monday to Sunday, so they reach a few days into the next quarter.
    """

    def weight(day: date) -> float:
        period = pd.Period(day, "Q")
        start, end = period.start_time.date(), (period + 1).start_time.date()
        length = (end - start).days
        return 1 + share * (length - days) / days if (end - day).days <= days else 1 - share

    total = crunch = 0.0
    monday = quarter + timedelta(days=-quarter.weekday() % 7)  # the quarter's first Monday
    while pd.Period(monday, "Q") == pd.Period(quarter, "Q"):
        w = sum(weight(monday + timedelta(days=i)) for i in range(7))
        total += w
        crunch += w if _quarter_end(monday) else 0.0
        monday += timedelta(days=7)
    return crunch / total


def test_demo_quarter_end_crunch_matches_truth(demo: tuple[Workspace, dict, pd.DataFrame]) -> None:
    """Won deals crowd into the two quarter-end weeks as much as the true crunch share implies."""
    _, truth, frame = demo
    quarters = quarter_crunches(frame)
    start = date.fromisoformat(truth["start"])
    steady = quarters[quarters["quarter"] >= start + timedelta(days=180)]  # past the ramp-up
    assert len(steady) >= 5 and steady["crunch"].all()
    crunch = truth["quarter_end_crunch"]
    expected = [
        _expected_quarter_end_share(q, crunch["share"], crunch["days"]) for q in steady["quarter"]
    ]
    n = steady["won_deals"].sum()
    observed = (steady["won_deals"] * steady["quarter_end_deal_share"]).sum() / n
    mean = float(np.average(expected, weights=steady["won_deals"]))
    assert observed == pytest.approx(mean, abs=3 * math.sqrt(mean * (1 - mean) / n))
    no_crunch = _expected_quarter_end_share(steady["quarter"].iloc[0], 0.0, crunch["days"])
    assert observed > 2 * no_crunch


def test_demo_lag_lies_between_true_delays(demo: tuple[Workspace, dict, pd.DataFrame]) -> None:
    """MQLs lead bookings by more than the true MQL-to-opportunity delay, less than to close."""
    _, truth, frame = demo
    medians = {k: np.mean(list(v["median"].values())) for k, v in truth["lag_days"].items()}
    to_opportunity = medians["mql->sal"] + medians["sal->sql"] + medians["sql->opportunity"]
    slip = truth["quarter_end_crunch"]["share"] * (91 - 14) / 91 * 91 / 2  # mean crunch delay
    to_close = to_opportunity + medians["opportunity->close"] + slip
    lag = best_lag(wave_lag(frame))
    assert lag is not None and to_opportunity / 7 < lag <= to_close / 7


def test_cli_json_contract_and_section(
    demo: tuple[Workspace, dict, pd.DataFrame], capsys: pytest.CaptureFixture[str]
) -> None:
    """wave -f json prints the documented object; the report section reads the same numbers."""
    ws, _, frame = demo
    app = typer.Typer()
    register_wave_commands(app)
    app.command("noop")(lambda: None)  # a second command keeps "wave" a subcommand
    command = typer.main.get_command(app)
    with pytest.raises(SystemExit) as done:
        command.main(["wave", "-w", str(ws.folder), "-f", "json"], standalone_mode=True)
    assert done.value.code == 0
    payload = json.loads(capsys.readouterr().out)
    assert set(payload) == {"weeks", "best_lag_weeks", "lag_correlations", "collisions"}
    assert len(payload["weeks"]) == len(frame) and payload["weeks"][0]["week"] == str(
        frame["week"].iloc[0]
    )
    assert payload["best_lag_weeks"] == best_lag(wave_lag(frame))
    assert {c["kind"] for c in payload["collisions"]} <= {"collision", "idle"}
    section = wave_section(ws)
    assert section is not None and section.charts
    assert f"by about {payload['best_lag_weeks']} weeks" in section.reading
    quarters = quarter_crunches(frame)
    crunches = quarters[quarters["crunch"]]
    assert f"{int(crunches['collided'].sum())} of {len(crunches)} quarter-end" in section.reading
