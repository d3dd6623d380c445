"""Pacing and projection: the backtest on the demo company, projections against what happened,
the flow and open-pipeline arithmetic against plain references, and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from missionline.cli.cascade import register_cascade_commands
from missionline.planning import measure
from missionline.planning.assumptions import Step, point_lag
from missionline.planning.cascade import lead_days, measure_scopes, requirements
from missionline.planning.flow import simulate, won_arrivals
from missionline.planning.ladder import ladder, scoped
from missionline.planning.open_pipeline import measure_open, open_amounts, pipeline_for
from missionline.planning.pacing import PacingResult, pacing
from missionline.workspace import Workspace
from test_cascade import FIXTURE_PLAN, demo_folder

from conftest import load_fixture, write

BACKTEST_ERROR = 0.15  # the stated error: each stage's 12-month total within ±15%
AS_OF = "2026-08-15"  # mid-quarter in the demo company's third year


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """The shared 30,000-lead, 36-month demo company (see test_cascade.demo_folder)."""
    ws = Workspace.open(demo_folder(tmp_path_factory) / "ws")
    yield ws  # type: ignore[misc]
    ws.close()


@pytest.fixture(scope="module")
def paced(demo: Workspace) -> PacingResult:
    """Pacing of the demo at mid-August of its third year (assumptions measured up to then)."""
    return pacing(demo.tables(), demo.schema, demo.plan, as_of=AS_OF, draws=1000)


def won_quarter(demo: Workspace, start: str, end: str, segment: str | None = None) -> float:
    """New-business bookings closed in [start, end), from the rows."""
    opps = demo.table("opportunities")
    won = opps[(opps["status"] == "won") & (opps["kind"] == "new")]
    won = won[(won["closed_at"] >= start) & (won["closed_at"] < end)]
    if segment is not None:
        segments = demo.table("accounts").set_index("account_id")["segment"]
        won = won[won["account_id"].map(segments) == segment]
    return float(won["amount"].sum())


def test_backtest_first_year_predicts_second_year_volumes(demo: Workspace) -> None:
    """Built from months 1-12, the cascade of the wins actually booked needs each stage's
    actual volume of months 13-24 within ±15% (and within three standard errors)."""
    as_of = pd.Timestamp("2025-10-01")
    scopes = measure_scopes(demo.tables(), demo.schema, demo.plan, as_of, "365d")
    lad = scopes[("new", None)].ladders[None]
    opps = demo.table("opportunities")
    won = opps[(opps["status"] == "won") & (opps["kind"] == "new")]
    days = pd.date_range(as_of - pd.Timedelta(days=lead_days([lad])), "2027-09-30")
    daily = won.groupby(won["closed_at"].dt.normalize()).size().reindex(days, fill_value=0)
    needs = requirements(np.where(days >= as_of, daily.to_numpy(float), 0.0), lad.steps)
    stages = ladder(demo.plan)
    actual = measure.daily_entries(scoped(demo.tables(), "new", None), stages)
    year = (days >= as_of) & (days < pd.Timestamp("2026-10-01"))
    errors = {}
    for i, (stage, need) in enumerate(zip([s.id for s in stages], needs, strict=True)):
        rows = actual[(actual["stage"] == stage) & (actual["day"] >= as_of)]
        volume = float(rows[rows["day"] < pd.Timestamp("2026-10-01")]["entries"].sum())
        errors[stage] = need[year].sum() / volume - 1
        # sampling error: each measured conversion below the stage, and the volume itself
        variance = 1 / volume + sum(
            (1 - s.reach) / (s.reach * s.entries) for s in lad.steps[i:] if s.reach
        )
        assert abs(errors[stage]) <= min(BACKTEST_ERROR, 3 * variance**0.5), errors
    assert errors["won"] == pytest.approx(0.0, abs=1e-9)  # the targets are the actual wins


def test_projections_cover_what_happened(demo: Workspace, paced: PacingResult) -> None:
    """Mid-quarter, each factor's 80% interval holds the quarter's actual bookings."""
    actual = {
        "new_bookings": won_quarter(demo, "2026-07-01", "2026-10-01"),
        "computing_share": won_quarter(demo, "2026-07-01", "2026-10-01", "computing"),
    }
    for projection in paced.projections:
        assert str(projection.period_start) == "2026-07-01"
        assert projection.low <= actual[projection.success_factor] <= projection.high
        assert projection.low < projection.expected < projection.high
        so_far = won_quarter(
            demo,
            "2026-07-01",
            AS_OF,
            "computing" if projection.success_factor == "computing_share" else None,
        )
        assert projection.actual == pytest.approx(so_far)
        assert projection.attainment == pytest.approx(projection.expected / projection.target)


def test_pacing_rows_match_first_entries_and_the_cascade(
    demo: Workspace, paced: PacingResult
) -> None:
    """Actual entries per month are first entries in the factor's scope; required sums the
    cascade's daily needs before as_of."""
    rows = paced.rows[paced.rows["success_factor"] == "new_bookings"]
    events = demo.table("stage_events")
    kinds = demo.table("opportunities").set_index("opportunity_id")["kind"]
    events = events[
        (events["record_type"] != "opportunity") | (events["record_id"].map(kinds) == "new")
    ]
    firsts = events.groupby(["stage", "record_id"])["entered_at"].min().reset_index()
    firsts = firsts[(firsts["entered_at"] >= "2024-10-01") & (firsts["entered_at"] < AS_OF)]
    firsts["period"] = firsts["entered_at"].dt.to_period("M").dt.start_time.dt.date
    reference = firsts.groupby(["stage", "period"]).size()
    for row in rows.itertuples():
        assert row.actual == reference.get((row.stage, row.period), 0), (row.stage, row.period)
    run = next(r for r in paced.cascade.runs if r.factor.id == "new_bookings")
    days = paced.cascade.days
    before = (days >= pd.Timestamp("2024-10-01")) & (days < pd.Timestamp(AS_OF))
    assert rows.groupby("stage")["required"].sum()["mql"] == pytest.approx(
        run.required["mql"][before].sum()
    )
    assert (rows["gap"] == rows["actual"] - rows["required"]).all()


def test_won_arrivals_follow_conversions_and_lags() -> None:
    """Ten entries on day 0, 50% after 2 days then 40% after 3: two wins expected on day 5;
    entries already past the first step at 'now' are the next stage's, not counted twice."""
    steps = [
        Step("a", "b", 0.5, "t", point_lag(2), "t"),
        Step("b", "won", 0.4, "t", point_lag(3), "t"),
    ]
    entries = [np.array([10.0] + [0.0] * 9), np.array([0, 0, 5.0] + [0.0] * 7)]
    flows = won_arrivals(entries, steps, now=1)
    assert flows[0][5] == pytest.approx(2.0) and flows[0].sum() == pytest.approx(2.0)
    assert flows[1].sum() == 0  # stage b's entries on day 2 are after 'now': not yet known
    later = won_arrivals(entries, steps, now=3)
    assert later[0].sum() == 0 and later[1][5] == pytest.approx(2.0)


def test_simulated_values_average_to_the_expectation() -> None:
    """Without conversion uncertainty the simulated deal counts average to the expected ones."""
    steps = [Step("opportunity", "won", 0.3, "plan", np.ones(1), "plan")]
    expected = np.array([[4.0, 6.0]])
    drawn = simulate(expected, steps, np.zeros(0), None, 20_000, np.random.default_rng(1))
    assert drawn.mean(axis=0) == pytest.approx([4.0, 6.0], rel=0.03)
    amounts = simulate(
        expected, steps, np.array([100.0, 300.0]), 200.0, 20_000, np.random.default_rng(2)
    )
    assert amounts.mean(axis=0) == pytest.approx([800.0, 1200.0], rel=0.03)


def test_open_pipeline_rates_match_a_deal_by_deal_reference(tmp_path: Path) -> None:
    """Deals open at a past snapshot and won by each bucket end, and deals open now."""
    ws = Workspace.init(tmp_path / "ws", str(write(tmp_path / "plan.yaml", FIXTURE_PLAN)))
    load_fixture(ws, tmp_path / "files")
    write(
        tmp_path / "deals" / "opportunities.csv",
        """
        opportunity_id,account_id,person_id,created_at,closed_at,amount,currency,status,kind,owner_id,loss_reason
        o4,a1,p2,2024-02-10,2024-03-15,2000,USD,won,new,,
        o5,a2,p5,2024-02-20,2024-04-20,300,USD,won,new,,
        o6,a1,,2024-03-01,2024-03-05,800,USD,lost,new,,price
        o7,a2,p3,2024-03-01,,400,USD,open,new,,
    """,
    )
    ws.import_files([tmp_path / "deals"])
    snap = pd.Timestamp("2024-03-01")
    ends = [pd.Timestamp("2024-03-20"), pd.Timestamp("2024-05-01")]
    counts = measure_open(ws.tables(), [(snap, ends)])
    pipe = pipeline_for(counts, open_amounts(ws.tables(), pd.Timestamp("2024-04-10")), None, 2)
    ws.close()
    # open at 1 March: o1 (closes that day), o2 (open), o4, o5 (created before, closed later)
    assert pipe.opened == 4
    assert pipe.won.tolist() == [2.0, 3.0]  # o1 and o4 by 20 March; o5 too by 1 May
    assert sorted(pipe.amounts.tolist()) == [300.0, 400.0, 500.0]  # o5, o7, o2 (o3 closed 1 April)


def test_cli_pacing_json_contract(demo: Workspace) -> None:
    """`pacing -f json` prints as_of, rows and projections with their monthly band."""
    app = typer.Typer()
    register_cascade_commands(app)
    result = CliRunner().invoke(
        app, ["pacing", "-w", str(demo.folder), "--as-of", AS_OF, "--draws", "200", "-f", "json"]
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert set(payload) == {"as_of", "rows", "projections"}
    assert payload["as_of"].startswith(AS_OF)
    assert set(payload["rows"][0]) == {
        "success_factor",
        "stage",
        "period",
        "required",
        "actual",
        "gap",
        "pace",
    }
    first = payload["projections"][0]
    assert {
        "success_factor",
        "target",
        "actual",
        "expected",
        "low",
        "high",
        "attainment",
        "months",
    } <= set(first)
    assert set(first["months"][0]) == {"month_end", "target", "actual", "expected", "low", "high"}


def test_report_sections_read_the_numbers(demo: Workspace) -> None:
    """The cascade, pacing and capacity sections have charts, a table and a reading with numbers."""
    from missionline.report.cascade_section import (
        capacity_section,
        cascade_section,
        pacing_section,
    )

    sections = [cascade_section(demo), pacing_section(demo), capacity_section(demo)]
    for section in sections:
        assert section is not None and section.charts and section.rows
        assert any(ch.isdigit() for ch in section.reading)
    assert [s.id for s in sections if s] == ["cascade", "pacing", "capacity"]
    assert "projected at" in sections[1].reading  # type: ignore[union-attr]
