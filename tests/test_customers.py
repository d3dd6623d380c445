"""Top customers and segment priorities match plain references and the demo's pipeline and churn."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from missionline.cli.customers import register_customer_commands
from missionline.customers import account_values, segment_priorities, top_customers
from missionline.customers.segments import SegmentPriorities, priority_findings
from missionline.demo.generator import generate_company, write_company
from missionline.errors import MissionlineError
from missionline.metrics.pipeline import pipeline
from missionline.plan.models import Market
from missionline.report.customers_section import segments_section, top_customers_section
from missionline.workspace import Workspace

from conftest import write

ACCOUNTS = """
account_id,name,market,segment,region,industry,employees,created_at
a1,One,north_america,computing,us,datacenter,3000,2023-12-01
a2,Two,north_america,computing,us,datacenter,3500,2023-12-01
a3,Three,north_america,computing,us,pc,800,2023-12-01
a4,Four,north_america,transportation,us,automotive,9000,2023-12-01
a5,Five,europe,computing,de,datacenter,2000,2023-12-01
a6,Six,europe,transportation,fr,rail,6000,2023-12-01
a7,Seven,europe,transportation,de,automotive,7000,2023-12-01
a8,Eight,north_america,computing,us,datacenter,2500,2023-12-01
a9,Nine,europe,computing,fr,pc,100,2023-12-01
a10,Ten,north_america,,us,,,2023-12-01
a11,Eleven,north_america,computing,us,datacenter,1500,2023-12-01
"""
# a1 renews, expands and orders; a2 contracts; a3 churns; a5 orders inside the last year and
# a6 outside it; a7-a10 never win; a11 is small next to its peers.
REVENUE = """
account_id,at,amount,kind
a1,2022-01-10,100000,new
a1,2023-01-10,100000,renewal
a1,2024-01-10,100000,renewal
a1,2025-01-10,100000,renewal
a1,2025-03-01,20000,expansion
a1,2025-06-01,5000,purchase
a1,2025-09-01,5000,purchase
a2,2024-02-01,50000,new
a2,2025-02-01,50000,renewal
a2,2025-06-15,-10000,contraction
a3,2024-03-01,30000,new
a3,2025-03-01,-30000,churn
a4,2022-05-01,200000,new
a4,2023-05-01,200000,renewal
a4,2024-05-01,200000,renewal
a4,2025-05-01,200000,renewal
a5,2025-01-15,40000,new
a5,2025-08-01,2000,purchase
a6,2022-07-01,80000,new
a6,2023-07-01,80000,renewal
a6,2024-07-01,80000,renewal
a6,2024-09-01,1000,purchase
a6,2025-07-01,80000,renewal
a11,2025-05-01,10000,new
"""
HORIZON = 3
DISCOUNT = 0.10


@pytest.fixture(scope="module")
def fixture_ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """A demo-plan workspace holding the eleven-account fixture company."""
    folder = tmp_path_factory.mktemp("customers")
    ws = Workspace.init(folder / "ws", "demo")
    write(folder / "files" / "accounts.csv", ACCOUNTS)
    write(folder / "files" / "revenue.csv", REVENUE)
    ws.import_files([folder / "files"])
    yield ws  # type: ignore[misc]
    ws.close()


# --- the reference: account by account, in plain Python ------------------------------------------


def reference_values(accounts: pd.DataFrame, revenue: pd.DataFrame) -> pd.DataFrame:
    """Status, ARR, realised, predicted and lifetime value per account, row by row."""
    as_of = revenue["at"].max().normalize() + pd.Timedelta(days=1)
    year_ago = as_of - pd.Timedelta(days=365)
    rows: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    won, active, renewals, churned = set(), set(), defaultdict(int), 0
    for r in revenue.sort_values("at").itertuples():
        acc = rows[r.account_id]
        if r.kind in ("new", "expansion", "renewal", "purchase") and r.amount > 0:
            acc["realised"] += r.amount
        if r.kind == "new" and r.amount > 0:
            won.add(r.account_id)
            active.add(r.account_id)
        if r.kind == "churn":
            active.discard(r.account_id)
            churned += 1
        if r.kind == "renewal":
            renewals[r.account_id] += 1
        if r.account_id in won and r.kind in ("new", "expansion", "contraction", "churn"):
            acc["arr"] += r.amount
        if r.kind == "contraction" and r.at >= year_ago:
            acc["contracted"] -= r.amount
        if r.kind == "purchase" and r.at >= year_ago:
            acc["orders"] += r.amount
    churn = churned / (sum(renewals.values()) + churned)
    factor = sum((1 - churn) ** k / (1 + DISCOUNT) ** k for k in range(1, HORIZON + 1))
    out = []
    for a in accounts.itertuples():
        acc = rows[a.account_id]
        status = (
            "customer"
            if a.account_id in active
            else "churned"
            if a.account_id in won
            else ("prospect")
        )
        arr = acc["arr"] if status == "customer" else 0.0
        run_rate = arr + acc["orders"] if status == "customer" else 0.0
        out.append(
            {
                "account_id": a.account_id,
                "market": a.market,
                "segment": a.segment,
                "industry": a.industry,
                "employees": a.employees,
                "status": status,
                "realised_value": acc["realised"],
                "arr": arr,
                "contracted_12m": acc["contracted"],
                "renewal_probability": 1 - churn if status == "customer" else math.nan,
                "predicted_value": run_rate * factor,
                "lifetime_value": acc["realised"] + run_rate * factor,
            }
        )
    return pd.DataFrame(out)


def reference_moves(values: pd.DataFrame) -> dict[str, str]:
    """The next move per won account: keep on risk, expand below the segment median ARR."""
    moves = {}
    active = values[values["status"] == "customer"]
    for row in values[values["status"] != "prospect"].itertuples():
        peers = active[active["segment"] == row.segment]["arr"]  # no band has 5 customers
        if row.status == "churned":
            moves[row.account_id] = "acquire"
        elif row.renewal_probability < 0.9 or row.contracted_12m > 0:
            moves[row.account_id] = "keep"
        elif row.arr < peers.median():
            moves[row.account_id] = "expand"
        else:
            moves[row.account_id] = "keep"
    return moves


def test_values_match_reference(fixture_ws: Workspace) -> None:
    """Status, ARR, realised, predicted and lifetime values equal the row-by-row reference."""
    ws = fixture_ws
    engine, retention = account_values(ws.tables(), ws.schema, ws.plan)
    expected = reference_values(ws.table("accounts"), ws.table("revenue"))
    assert retention.model == "geometric"  # a single churn: sBG cannot separate the spread
    assert retention.churn == pytest.approx(1 / 11)
    columns = ["account_id", "status", "realised_value", "arr", "contracted_12m"]
    columns += ["renewal_probability", "predicted_value", "lifetime_value"]
    pd.testing.assert_frame_equal(
        engine[columns].reset_index(drop=True),
        expected[columns].sort_values("account_id").reset_index(drop=True),
        check_dtype=False,
    )


def test_ranks_moves_and_fit_match_reference(fixture_ws: Workspace) -> None:
    """Ranks by lifetime value, next moves and prospect fit follow the documented rules."""
    ws = fixture_ws
    frame = top_customers(ws.tables(), ws.schema, ws.plan, per="market", n=10)
    expected = reference_values(ws.table("accounts"), ws.table("revenue"))
    moves = reference_moves(expected)
    customers = frame[frame["status"] != "prospect"]
    assert dict(zip(customers["account_id"], customers["next_move"], strict=True)) == moves
    assert moves == {"a1": "keep", "a2": "keep", "a3": "acquire", "a4": "keep", "a5": "keep"} | {
        "a6": "expand",
        "a11": "expand",
    }
    for market, group in customers.groupby("market"):
        ref = expected[(expected["market"] == market) & (expected["status"] != "prospect")]
        order = ref.sort_values(["lifetime_value", "account_id"], ascending=[False, True])
        assert list(group["account_id"]) == list(order["account_id"])
        assert list(group["rank"]) == list(range(1, len(group) + 1))
    a11 = customers.set_index("account_id").loc["a11"]
    assert "headroom 50,000" in a11["reason"]  # computing p75 ARR 60,000 - 10,000
    prospects = frame[frame["status"] == "prospect"].set_index("account_id")
    # computing's best quarter: a1 and a2 (datacenter, 1000-4999); transportation's: a4.
    assert prospects["fit"].to_dict() == {"a8": 1.0, "a10": 0.0, "a7": 1.0, "a9": 0.0}
    assert prospects.loc["a8", "rank"] == 1 and prospects["lifetime_value"].isna().all()
    top_one = top_customers(ws.tables(), ws.schema, ws.plan, per="segment", n=1)
    assert len(top_one[top_one["status"] != "prospect"]) == 2  # computing and transportation


def test_as_of_and_bad_inputs(fixture_ws: Workspace) -> None:
    """An earlier as_of drops later rows; a bad --per or -n is a user error."""
    ws = fixture_ws
    early, _ = account_values(ws.tables(), ws.schema, ws.plan, as_of="2024-04-01")
    assert set(early.loc[early["status"] != "prospect", "account_id"]) == {
        "a1",
        "a2",
        "a3",
        "a4",
        "a6",
    }
    assert early.set_index("account_id").loc["a1", "realised_value"] == 300000
    before = top_customers(ws.tables(), ws.schema, ws.plan, as_of="2021-01-01")
    assert set(before["status"]) == {"prospect"} and before["fit"].eq(0).all()
    for kwargs in ({"per": "region"}, {"n": 0}, {"horizon_years": 0}):
        with pytest.raises(MissionlineError):
            top_customers(ws.tables(), ws.schema, ws.plan, **kwargs)


# --- the demo -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, dict]:
    """A 12,000-lead demo company imported once, with its truth."""
    folder = tmp_path_factory.mktemp("demo")
    company = generate_company(leads=12_000, seed=7)
    write_company(company, folder / "data")
    ws = Workspace.init(folder / "ws", "demo")
    ws.import_files([folder / "data"])
    yield ws, company.truth  # type: ignore[misc]
    ws.close()


@pytest.fixture(scope="module")
def priorities(demo: tuple[Workspace, dict]) -> SegmentPriorities:
    """The demo's segment priorities (computed once)."""
    ws, _ = demo
    return segment_priorities(ws.tables(), ws.schema, ws.plan)


def test_segment_deal_metrics_equal_pipeline(
    demo: tuple[Workspace, dict], priorities: SegmentPriorities
) -> None:
    """Win rate, deal size and cycle per market and segment are pipeline()'s numbers."""
    ws, _ = demo
    deals = pipeline(ws.tables(), ws.schema, ws.plan, by=["market", "segment"])
    table = priorities.table.merge(deals, on=["market", "segment"], suffixes=("", "_pipeline"))
    assert len(table) == len(priorities.table) == 16
    for ours, theirs in (
        ("win_rate", "win_rate_pipeline"),
        ("average_deal_size", "average_deal_size_pipeline"),
        ("cycle_days", "average_cycle_days"),
    ):
        np.testing.assert_allclose(table[ours], table[theirs])
    accounts = ws.table("accounts")
    assert priorities.table["addressable"].sum() == len(accounts)
    scores = priorities.table["clv"] / priorities.table["effort"]
    np.testing.assert_allclose(priorities.table["score"], scores)
    assert list(priorities.table["rank"]) == sorted(priorities.table["rank"])


def test_demo_churn_recovered(demo: tuple[Workspace, dict]) -> None:
    """The pooled churn behind the predictions is within 3 SE of the true churn of that mix."""
    ws, truth = demo
    _, retention = account_values(ws.tables(), ws.schema, ws.plan)
    revenue = ws.table("revenue").merge(ws.table("accounts")[["account_id", "segment"]])
    exposure = revenue[revenue["kind"].isin(["renewal", "churn"])].groupby("segment").size()
    p = pd.Series(truth["churn"]["annual_probability_by_segment"])
    expected = float((exposure * p[exposure.index]).sum() / exposure.sum())
    se = math.sqrt(float((exposure * p * (1 - p)).sum())) / exposure.sum()
    assert retention.model in ("geometric", "sbg")
    assert abs(retention.churn - expected) < 3 * se


def test_findings_follow_plan_priorities(
    demo: tuple[Workspace, dict], priorities: SegmentPriorities
) -> None:
    """A plan ordered like the measurement gives no market finding; swapping two gives two."""
    ws, _ = demo
    scores = {f.id: f.measured_rank for f in priorities.findings if f.level == "market"}
    table = priorities.table
    won = table["won_accounts"]
    value = (table["clv"] * won).groupby(table["market"]).sum()
    cost = (table["effort"] * won).groupby(table["market"]).sum()
    measured = (value / cost).rank(ascending=False).astype(int).to_dict()
    assert all(measured[m] == r for m, r in scores.items())
    agreeing = [Market(id=m, name=m, priority=r) for m, r in measured.items()]
    plan = ws.plan.model_copy(update={"markets": agreeing})
    assert [f for f in priority_findings(table, plan) if f.level == "market"] == []
    first, second = sorted(measured, key=measured.__getitem__)[:2]
    swapped = [
        Market(id=m, name=m, priority={first: 2, second: 1}.get(m, r)) for m, r in measured.items()
    ]
    plan = ws.plan.model_copy(update={"markets": swapped})
    findings = priority_findings(table, plan)
    found = {f.id: (f.plan_rank, f.measured_rank) for f in findings if f.level == "market"}
    assert found == {first: (2, 1), second: (1, 2)}


def test_sensitivity_rows(priorities: SegmentPriorities) -> None:
    """Each row has four inputs; CLV's elasticity is 1 and the effort shares sum to -1."""
    sens = priorities.sensitivity
    assert len(sens) == 4 * len(priorities.table)
    wide = sens.pivot_table(index=["market", "segment"], columns="input", values="elasticity")
    np.testing.assert_allclose(wide["clv"], 1.0)
    np.testing.assert_allclose(wide["marketing_cac"] - wide["win_rate"], -1.0)
    assert "score = clv / (marketing_cac + sales_effort)" in priorities.formula


def test_cli_json_contracts(demo: tuple[Workspace, dict]) -> None:
    """customers top and segments print the documented JSON."""
    ws, _ = demo
    app = typer.Typer()
    register_customer_commands(app)
    runner = CliRunner()
    folder = str(ws.folder)
    result = runner.invoke(app, ["customers", "top", "-w", folder, "-n", "3", "-f", "json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert {"market", "rank", "account_id", "lifetime_value", "next_move", "reason"} <= set(rows[0])
    assert len(rows) == 4 * 3 * 2
    result = runner.invoke(app, ["segments", "-w", folder, "-f", "json", "--as-of", "2026-06-30"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert set(payload) == {"formula", "segments", "sensitivity", "findings"}
    assert len(payload["segments"]) == 16
    bad = runner.invoke(app, ["customers", "top", "-w", folder, "--as-of", "June"])
    assert isinstance(bad.exception, MissionlineError) and "--as-of" in str(bad.exception)


def test_report_sections(demo: tuple[Workspace, dict]) -> None:
    """Both sections read their numbers; the matrix is one bubble chart."""
    ws, _ = demo
    top = top_customers_section(ws)
    assert top is not None and top.rows and "top 10 customers" in top.reading
    matrix = segments_section(ws)
    assert matrix is not None and len(matrix.charts) == 1
    assert "value per unit of sales and marketing effort" in matrix.reading


def test_empty_workspace_has_no_sections(tmp_path: Path) -> None:
    """Without customers the sections are left out."""
    ws = Workspace.init(tmp_path / "ws", "demo")
    try:
        assert top_customers_section(ws) is None
        assert segments_section(ws) is None
    finally:
        ws.close()
