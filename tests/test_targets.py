"""Plan metrics against a pandas reference; targets judged on full periods; linkage sums."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from missionline.alignment.attainment import last_full_period, status_of
from missionline.alignment.linkage import linkage
from missionline.metrics.library import metric_value
from missionline.plan import plan_from_text
from missionline.workspace import Workspace, packaged_example

from conftest import load_fixture, write

PLAN = """
functions: [{id: marketing, name: Marketing}, {id: sales, name: Sales}]
lifecycle:
  stages:
    - {id: lead, name: Lead, next: [mql, disqualified]}
    - {id: mql, name: MQL, next: [sal, recycled]}
    - {id: sal, name: SAL, next: [sql]}
    - {id: sql, name: SQL, next: [opportunity]}
    - {id: opportunity, name: Opportunity, record_type: opportunity, next: [won, lost]}
    - {id: won, name: Won, record_type: opportunity}
    - {id: lost, name: Lost, record_type: opportunity, exit: lost}
    - {id: disqualified, name: Disqualified, exit: disqualified}
    - {id: recycled, name: Recycled, exit: recycled, next: [mql]}
metrics:
  leads: {measure: entries, stage: lead}
  webinar_leads: {measure: entries, stage: lead, channel: webinar}
  computing_leads: {measure: entries, stage: lead, segment: computing}
  computing_opps: {measure: entries, stage: opportunity, segment: computing}
  lead_to_mql: {measure: conversion, stage: lead}
  bookings: {measure: won_amount}
  new_bookings: {measure: won_amount, kind: new}
  wins: {measure: won_count}
  win_rate: {measure: win_rate}
  spend: {measure: spend, function: marketing}
  revenue: {measure: revenue}
  pipeline: {measure: pipeline_created}
"""
START, END = dt.date(2024, 1, 1), dt.date(2024, 4, 1)


@pytest.fixture
def loaded(tmp_path: Path) -> Workspace:
    """The fixture company under a plan that defines one metric per measure."""
    plan = write(tmp_path / "plan.yaml", PLAN)
    ws = Workspace.init(tmp_path / "ws", str(plan))
    load_fixture(ws, tmp_path / "files")
    write(
        tmp_path / "more" / "spend.csv",
        """
        initiative_id,channel,function,period_start,period_end,amount,currency
        ini_a,webinar,marketing,2024-01-01,2024-02-01,100,USD
        ini_b,events,marketing,2024-03-01,2024-04-01,50,USD
        ,,sales,2024-01-01,2024-02-01,70,USD
        ini_a,webinar,marketing,2024-05-01,2024-06-01,999,USD
    """,
    )
    write(
        tmp_path / "more" / "revenue.csv",
        """
        account_id,at,amount,kind
        a1,2024-03-01,1000,new
        a1,2024-03-20,-100,contraction
        a2,2024-07-01,300,new
    """,
    )
    ws.import_files([tmp_path / "more"])
    return ws


def reference(ws: Workspace, name: str) -> float | None:
    """Each metric computed directly in pandas over [START, END)."""
    t = {
        n: ws.table(n)
        for n in ("stage_events", "people", "accounts", "opportunities", "spend", "revenue")
    }
    inside = lambda s: (s >= pd.Timestamp(START)) & (s < pd.Timestamp(END))  # noqa: E731
    ev = t["stage_events"][inside(t["stage_events"]["entered_at"])]
    people, accounts, opps = t["people"], t["accounts"], t["opportunities"]
    computing = set(accounts.loc[accounts["segment"] == "computing", "account_id"])
    closed = opps[inside(opps["closed_at"])]
    won = closed[closed["status"] == "won"]

    def entries(stage: str) -> set[str]:
        return set(ev.loc[ev["stage"] == stage, "record_id"])

    values = {
        "leads": len(entries("lead")),
        "webinar_leads": len(
            entries("lead") & set(people.loc[people["source_channel"] == "webinar", "person_id"])
        ),
        "computing_leads": len(
            entries("lead") & set(people.loc[people["account_id"].isin(computing), "person_id"])
        ),
        "computing_opps": len(
            entries("opportunity")
            & set(opps.loc[opps["account_id"].isin(computing), "opportunity_id"])
        ),
        "lead_to_mql": len(entries("mql")) / len(entries("lead")),
        "bookings": won["amount"].sum(),
        "new_bookings": won.loc[won["kind"] == "new", "amount"].sum(),
        "wins": len(won),
        "win_rate": len(won) / len(closed[closed["status"].isin(["won", "lost"])]),
        "spend": t["spend"]
        .loc[inside(t["spend"]["period_start"]) & (t["spend"]["function"] == "marketing"), "amount"]
        .sum(),
        "revenue": t["revenue"].loc[inside(t["revenue"]["at"]), "amount"].sum(),
        "pipeline": opps.loc[inside(opps["created_at"]), "amount"].sum(),
    }
    return float(values[name])


@pytest.mark.parametrize(
    "name",
    [
        "leads",
        "webinar_leads",
        "computing_leads",
        "computing_opps",
        "lead_to_mql",
        "bookings",
        "new_bookings",
        "wins",
        "win_rate",
        "spend",
        "revenue",
        "pipeline",
    ],
)
def test_metric_matches_pandas(loaded: Workspace, name: str) -> None:
    """Every measure of the metric library equals an independent pandas computation."""
    assert metric_value(loaded.tables(), loaded.plan, name, START, END) == pytest.approx(
        reference(loaded, name)
    )


@pytest.mark.parametrize(
    ("end", "period", "expected"),
    [
        (dt.date(2026, 10, 1), "quarter", (dt.date(2026, 7, 1), dt.date(2026, 10, 1))),
        (dt.date(2026, 9, 30), "quarter", (dt.date(2026, 4, 1), dt.date(2026, 7, 1))),
        (dt.date(2026, 1, 15), "month", (dt.date(2025, 12, 1), dt.date(2026, 1, 1))),
        (dt.date(2026, 1, 1), "year", (dt.date(2025, 1, 1), dt.date(2026, 1, 1))),
    ],
)
def test_last_full_period(end: dt.date, period: str, expected: tuple[dt.date, dt.date]) -> None:
    """Targets are judged on the latest whole period the data cover."""
    assert last_full_period(end, period, plan_from_text(PLAN)) == expected


def test_status_thresholds() -> None:
    """95% is on track, 80% at risk, less off track; spend over budget is the reverse."""
    assert status_of(95, 100, "entries")[1] == "on_track"
    assert status_of(80, 100, "entries")[1] == "at_risk"
    assert status_of(79, 100, "entries")[1] == "off_track"
    assert status_of(104, 100, "spend")[1] == "on_track"
    assert status_of(130, 100, "spend")[1] == "off_track"
    assert status_of(None, 100, "entries") == (None, "no_data")


def test_demo_attainments_cover_every_target(tmp_path: Path) -> None:
    """On the demo company every success factor and objective gets an actual and a status."""
    from missionline.demo.generator import generate_company, write_company

    write_company(generate_company(leads=4000, seed=2), tmp_path / "data")
    with Workspace.init(tmp_path / "ws", "demo") as ws:
        ws.import_files([tmp_path / "data"])
        results = ws.attainments()
    assert len(results) == len(ws.plan.success_factors) + len(ws.plan.objectives)
    assert all(r.actual is not None and r.status != "no_data" for r in results)
    assert {r.period_end for r in results} == {dt.date(2026, 10, 1)}


def test_linkage_splits_spend_over_outcomes() -> None:
    """Spend reaches success factors through objectives; totals add up; orphans are listed."""
    plan = plan_from_text(packaged_example("demo").read_text())
    spend = {i.id: 100.0 for i in plan.initiatives} | {None: 500.0, "ini_unknown": 10.0}
    result = linkage(plan, spend)
    linked = sum(r.spend for r in result.success_factors)
    assert linked == pytest.approx(1100.0)  # 11 of the 12 initiatives reach an outcome
    assert result.orphan_initiatives == ["ini_developer_community"]
    assert result.unlinked_spend == pytest.approx(1710.0 - 1100.0)
    assert result.unlinked_spend_share == pytest.approx(610.0 / 1710.0)
    assert result.notes == [
        "spend booked to initiative 'ini_unknown', which the plan does not declare"
    ]
    marketing = next(r for r in result.functions if r.id == "marketing")
    assert marketing.spend == pytest.approx(1000.0)
