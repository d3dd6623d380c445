"""Lifecycle metrics match an account-by-account replay and recover the demo's churn and growth."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import typer
from typer.testing import CliRunner

from missionline.cli.lifecycle import register_lifecycle_commands
from missionline.demo.generator import generate_company
from missionline.errors import MissionlineError
from missionline.metrics.lifecycle import expansion, net_revenue_retention, retention
from missionline.report.lifecycle_section import lifecycle_section
from missionline.workspace import Workspace

from conftest import write

PLAN = """
company: Fixture
lifecycle:
  stages:
    - {id: lead, name: Lead, next: [opportunity]}
    - {id: opportunity, name: Opportunity, record_type: opportunity, next: [won, lost]}
    - {id: won, name: Won, record_type: opportunity, next: [customer]}
    - {id: customer, name: Customer, record_type: account, next: [advocate]}
    - {id: advocate, name: Advocate, record_type: account, terminal: true}
    - {id: lost, name: Lost, record_type: opportunity, exit: lost}
"""
ACCOUNTS = """
account_id,name,market,segment
a1,One,europe,computing
a2,Two,japan,transportation
a3,Three,europe,
a4,Four,japan,computing
a5,Five,europe,transportation
a6,Six,japan,communications
a7,Seven,europe,computing
a8,Eight,japan,
"""
# a1: expansion, contraction at renewal (the renewal row does not count), purchases; a2 churns
# and is won back, then expands; a3 wins one second before a quarter ends, expands at the next
# quarter's first instant, churns the expanded contract; a4 has a churn row before its first win
# and an expansion at the very instant of it; a5 has a zero new row, then churns and is re-won at
# one instant; a6 is never a customer; a7 expands then churns all; a8 ties a1's first win.
# Cohorts (quarter): Q1 2024 a1 a2 a3 a8, Q3 2024 a4, Q1 2025 a7, Q2 2025 a5; Q2 and Q4 2024
# are empty. The last row (a1's purchase on 10 September 2025) sets as-of to 11 September.
REVENUE = """
account_id,at,amount,kind
a1,2024-01-15 10:00:00,1000,new
a1,2024-04-15 00:00:00,250,purchase
a1,2024-05-10 00:00:00,500,expansion
a1,2025-01-15 10:00:00,1500,renewal
a1,2025-01-15 10:00:00,-300,contraction
a1,2025-03-01 00:00:00,200,expansion
a1,2025-09-10 00:00:00,90,purchase
a2,2024-02-20 00:00:00,2000,new
a2,2025-02-20 00:00:00,-2000,churn
a2,2025-06-01 00:00:00,800,new
a2,2025-07-01 00:00:00,100,expansion
a3,2024-03-31 23:59:59,600,new
a3,2024-04-01 00:00:00,300,expansion
a3,2025-03-31 23:59:59,-900,churn
a4,2024-01-10 00:00:00,-100,churn
a4,2024-08-01 00:00:00,400,new
a4,2024-08-01 00:00:00,100,expansion
a4,2024-12-01 00:00:00,-50,contraction
a5,2024-11-01 00:00:00,0,new
a5,2025-04-15 00:00:00,700,new
a5,2025-07-01 00:00:00,-700,churn
a5,2025-07-01 00:00:00,900,new
a6,2024-06-01 00:00:00,300,purchase
a6,2024-07-01 00:00:00,200,expansion
a7,2025-01-05 00:00:00,1200,new
a7,2025-05-01 00:00:00,300,expansion
a7,2025-08-01 00:00:00,-1500,churn
a8,2024-01-15 10:00:00,500,new
a8,2024-06-30 23:00:00,250,expansion
a8,2025-02-01 00:00:00,100,expansion
"""
# a6 is an advocate but no customer; a5 becomes one after the as-of moment.
EVENTS = """
record_id,record_type,stage,entered_at,owner_id,reason
a1,account,customer,2024-01-15 10:00:00,,
a1,account,advocate,2024-09-01 00:00:00,,
a2,account,advocate,2024-06-01 00:00:00,,
a6,account,advocate,2024-08-01 00:00:00,,
a7,account,advocate,2025-06-01 00:00:00,,
a5,account,advocate,2025-10-01 00:00:00,,
"""
AS_OF = pd.Timestamp("2025-09-11")
ARR_KINDS = ("new", "expansion", "contraction", "churn")
SUMS = ("customers", "arr_start", "expansion", "contraction", "churned", "kept")
SUMS += ("churned_logos", "expanded_logos")


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """A workspace holding the fixture company (module-wide: no test changes its data)."""
    tmp_path = tmp_path_factory.mktemp("lifecycle")
    plan = write(tmp_path / "plan.yaml", PLAN)
    ws = Workspace.init(tmp_path / "ws", str(plan))
    write(tmp_path / "files" / "accounts.csv", ACCOUNTS)
    write(tmp_path / "files" / "revenue.csv", REVENUE)
    write(tmp_path / "files" / "stage_events.csv", EVENTS)
    ws.import_files([tmp_path / "files"])
    yield ws  # type: ignore[misc]
    ws.close()


def run(metric: object, ws: Workspace, **kwargs: object) -> pd.DataFrame:
    """One lifecycle metric of the engine on a workspace."""
    return metric(ws.tables(), ws.schema, ws.plan, **kwargs)  # type: ignore[operator]


# --- the reference: account by account, in plain Python -----------------------------------------

FREQ = {"month": "M", "quarter": "Q", "year": "Y"}


def _clean(value: object) -> object:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


class Reference:
    """Every lifecycle number replayed account by account from the raw rows."""

    def __init__(self, ws: Workspace, as_of: pd.Timestamp, period: str) -> None:
        self.as_of, self.freq = as_of, FREQ[period]
        rows = ws.table("revenue").to_dict("records")
        self.rows = sorted((r for r in rows if r["at"] < as_of), key=lambda r: r["at"])
        self.accounts = ws.table("accounts").set_index("account_id").to_dict("index")
        events = ws.table("stage_events").to_dict("records")
        self.advocates = {
            e["record_id"] for e in events if e["stage"] == "advocate" and e["entered_at"] < as_of
        }
        self.first: dict[str, pd.Timestamp] = {}
        for r in self.rows:
            if r["kind"] == "new" and r["amount"] > 0:
                self.first.setdefault(r["account_id"], r["at"])

    def of(self, account: str) -> list[dict]:
        """The account's rows before as-of."""
        return [r for r in self.rows if r["account_id"] == account]

    def states(self, account: str) -> list[tuple[pd.Timestamp, bool]]:
        """(instant, customer afterwards) at each instant with a positive new or a churn row."""
        out: list[tuple[pd.Timestamp, bool]] = []
        rows = self.of(account)
        for at in sorted({r["at"] for r in rows}):
            kinds = {
                r["kind"] for r in rows if r["at"] == at and (r["kind"] != "new" or r["amount"] > 0)
            }
            if "new" in kinds:
                out.append((at, True))
            elif "churn" in kinds:
                out.append((at, False))
        return out

    def active(self, account: str, t: pd.Timestamp) -> bool:
        """A customer at instant t (state after the last status row before t)."""
        before = [state for at, state in self.states(account) if at < t]
        return bool(before) and before[-1]

    def churns(self, account: str, start: pd.Timestamp, end: pd.Timestamp) -> int:
        """Customer-to-churned changes at instants in [start, end)."""
        count, state = 0, False
        for at, new_state in self.states(account):
            if start <= at < end and state and not new_state:
                count += 1
            state = new_state
        return count

    def arr(self, account: str, t: pd.Timestamp) -> float:
        """ARR at t: new, expansion, contraction and churn amounts from the first win to t."""
        first = self.first[account]
        return sum(
            r["amount"] for r in self.of(account) if r["kind"] in ARR_KINDS and first <= r["at"] < t
        )

    def amount(self, account: str, kind: str, start: pd.Timestamp, end: pd.Timestamp) -> float:
        """Sum of the account's rows of one kind in [start, end)."""
        return sum(
            r["amount"] for r in self.of(account) if r["kind"] == kind and start <= r["at"] < end
        )

    def key(self, account: str, by: Sequence[str]) -> tuple[object, ...]:
        """The account's --by values."""
        return tuple(_clean(self.accounts[account].get(b)) for b in by)

    def cohort(self, account: str) -> pd.Period:
        """The calendar period of the first win."""
        return pd.Period(self.first[account], freq=self.freq)

    def end_of(self, p: pd.Period) -> pd.Timestamp:
        """The period's end, or as-of for the period containing it."""
        return min((p + 1).start_time, self.as_of)

    def retention(self, by: Sequence[str]) -> pd.DataFrame:
        """Cohort and age rows by replaying each customer."""
        last = pd.Period(self.as_of - pd.Timedelta(microseconds=1), freq=self.freq)
        groups: dict[tuple, list[str]] = {}
        for account in self.first:
            groups.setdefault((*self.key(account, by), self.cohort(account)), []).append(account)
        out = []
        for (*values, cohort), members in groups.items():
            start = sum(self.arr(a, self.end_of(cohort)) for a in members)
            for age in range((last - cohort).n + 1):
                t = self.end_of(cohort + age)
                kept = sum(self.active(a, t) for a in members)
                arr = sum(self.arr(a, t) for a in members)
                out.append(
                    {
                        **dict(zip(by, values, strict=True)),
                        "cohort": cohort.start_time.date(),
                        "age": age,
                        "customers": len(members),
                        "retained_logos": kept,
                        "logo_retention": kept / len(members),
                        "arr_start": start,
                        "arr": arr,
                        "revenue_retention": arr / start if start > 0 else None,
                    }
                )
        return pd.DataFrame(out)

    def nrr(self, by: Sequence[str]) -> pd.DataFrame:
        """Trailing-twelve-month windows at each period end, customer by customer."""
        first = min(self.first.values())
        last = pd.Period(self.as_of - pd.Timedelta(microseconds=1), freq=self.freq)
        periods = pd.period_range(pd.Period(first, freq=self.freq), last)
        windows = [(p, self.end_of(p)) for p in periods]
        windows = [(p, e) for p, e in windows if e - pd.DateOffset(months=12) > first]
        cells: dict[tuple, dict] = {}
        for p, end in windows:
            start = end - pd.DateOffset(months=12)
            for account in self.first:
                if not self.active(account, start):
                    continue
                a = self.arr(account, start)
                grew = self.amount(account, "expansion", start, end)
                shrank = -self.amount(account, "contraction", start, end)
                lost = -self.amount(account, "churn", start, end)
                expanded = any(
                    r["kind"] == "expansion" and r["amount"] > 0 and start <= r["at"] < end
                    for r in self.of(account)
                )
                c = cells.setdefault((self.key(account, by), p), dict.fromkeys(SUMS, 0))
                c["customers"] += 1
                c["arr_start"] += a
                c["expansion"] += grew
                c["contraction"] += shrank
                c["churned"] += lost
                c["kept"] += max(a - shrank - lost, 0.0)
                c["churned_logos"] += self.churns(account, start, end) > 0
                c["expanded_logos"] += expanded
        keys = sorted({k for k, _ in cells}, key=repr)
        out = []
        for key in keys:
            for p, end in windows:
                c = cells.get((key, p), dict.fromkeys(SUMS, 0))
                a, n = c["arr_start"], c["customers"]
                arr_end = a + c["expansion"] - c["contraction"] - c["churned"]
                out.append(
                    {
                        **dict(zip(by, key, strict=True)),
                        "period": p.start_time.date(),
                        "measured_at": end,
                        "customers": n,
                        "arr_start": a,
                        "expansion": c["expansion"],
                        "contraction": c["contraction"],
                        "churned": c["churned"],
                        "arr_end": arr_end,
                        "nrr": arr_end / a if a > 0 else None,
                        "grr": c["kept"] / a if a > 0 else None,
                        "churned_logos": c["churned_logos"],
                        "logo_churn_rate": c["churned_logos"] / n if n else None,
                        "revenue_churn_rate": c["churned"] / a if a > 0 else None,
                        "expanded_logos": c["expanded_logos"],
                        "logo_expansion_rate": c["expanded_logos"] / n if n else None,
                        "revenue_expansion_rate": c["expansion"] / a if a > 0 else None,
                    }
                )
        return pd.DataFrame(out)

    def expansion(self, by: Sequence[str]) -> pd.DataFrame:
        """Per cohort: expanded customers, days to the first expansion, advocates."""
        groups: dict[tuple, list[str]] = {}
        for account in self.first:
            groups.setdefault((*self.key(account, by), self.cohort(account)), []).append(account)
        out = []
        for (*values, cohort), members in groups.items():
            days = []
            for a in members:
                grown = [
                    r["at"]
                    for r in self.of(a)
                    if r["kind"] == "expansion" and r["amount"] > 0 and r["at"] >= self.first[a]
                ]
                if grown:
                    days.append((min(grown) - self.first[a]).total_seconds() / 86400)
            n, advocates = len(members), sum(a in self.advocates for a in members)
            out.append(
                {
                    **dict(zip(by, values, strict=True)),
                    "cohort": cohort.start_time.date(),
                    "customers": n,
                    "expanded": len(days),
                    "expansion_rate": len(days) / n,
                    "median_days_to_first_expansion": np.quantile(days, 0.5) if days else None,
                    "p90_days_to_first_expansion": np.quantile(days, 0.9) if days else None,
                    "advocates": advocates,
                    "advocate_share": advocates / n,
                }
            )
        return pd.DataFrame(out)


def assert_same(engine: pd.DataFrame, ref: pd.DataFrame, keys: list[str]) -> None:
    """Same rows and columns; integers exactly, floats to rounding, nulls as nulls."""
    assert list(engine.columns) == [*keys, *[c for c in engine.columns if c not in keys]]
    assert len(engine) == len(ref), (engine, ref)
    order = lambda f: f.sort_values(keys, key=lambda s: s.astype(str)).reset_index(drop=True)  # noqa: E731
    engine, ref = order(engine), order(ref[list(engine.columns)])
    for column in engine.columns:
        left = [_clean(v) for v in engine[column].tolist()]
        right = [_clean(v) for v in ref[column].tolist()]
        for a, b in zip(left, right, strict=True):
            if isinstance(a, float) or isinstance(b, float):
                assert a is not None and b is not None, (column, left, right)
                assert a == pytest.approx(b, rel=1e-9, abs=1e-9), (column, left, right)
            else:
                assert a == b, (column, left, right)


# --- the fixture ---------------------------------------------------------------------------------

CASES = [((), "quarter"), (("segment",), "month"), (("market", "segment"), "year")]


@pytest.mark.parametrize(("by", "period"), CASES)
def test_retention_matches_reference(loaded: Workspace, by: tuple[str, ...], period: str) -> None:
    """Cohort by age, by segment and market (null segment included), every number matches."""
    ref = Reference(loaded, AS_OF, period).retention(by)
    engine = run(retention, loaded, by=list(by), period=period)
    assert_same(engine, ref, [*by, "cohort", "age"])


@pytest.mark.parametrize(("by", "period"), CASES)
def test_nrr_matches_reference(loaded: Workspace, by: tuple[str, ...], period: str) -> None:
    """Every trailing-twelve-month window, by group with zero-filled empty cells, matches."""
    ref = Reference(loaded, AS_OF, period).nrr(by)
    engine = run(net_revenue_retention, loaded, by=list(by), period=period)
    assert_same(engine, ref, [*by, "period"])


@pytest.mark.parametrize(("by", "period"), CASES)
def test_expansion_matches_reference(loaded: Workspace, by: tuple[str, ...], period: str) -> None:
    """Expanded customers, days to the first expansion and advocates per cohort match."""
    ref = Reference(loaded, AS_OF, period).expansion(by)
    engine = run(expansion, loaded, by=list(by), period=period)
    assert_same(engine, ref, [*by, "cohort"])


def test_as_of_in_the_past_matches_reference(loaded: Workspace) -> None:
    """As of 1 March 2025 later rows and stage entries are ignored; the last period is partial."""
    as_of = pd.Timestamp("2025-03-01")
    ref = Reference(loaded, as_of, "quarter")
    for metric, expected, keys in (
        (retention, ref.retention(()), ["cohort", "age"]),
        (net_revenue_retention, ref.nrr(()), ["period"]),
        (expansion, ref.expansion(()), ["cohort"]),
    ):
        assert_same(run(metric, loaded, as_of="2025-03-01"), expected, keys)


def test_known_values(loaded: Workspace) -> None:
    """Hand-checked: the first cohort's logos and ARR, one NRR window, win-back and ties."""
    cohorts = run(retention, loaded).set_index(["cohort", "age"])
    first = cohorts.loc[(pd.Timestamp("2024-01-01").date(), 0)]
    # a1 1000, a2 2000, a3 600 (one second before the quarter ends), a8 500; a3's expansion
    # at 1 April 00:00 belongs to age 1
    assert (first["customers"], first["arr_start"]) == (4, 4100)
    ages = cohorts.xs(pd.Timestamp("2024-01-01").date(), level="cohort")["retained_logos"]
    assert ages.tolist() == [4, 4, 4, 4, 2, 3, 3]  # a2, a3 churn in Q1 2025; a2 won back in Q2
    assert sorted({c.isoformat() for c, _ in cohorts.index}) == [
        "2024-01-01",
        "2024-07-01",
        "2025-01-01",
        "2025-04-01",
    ]  # the empty quarters have no rows
    nrr = run(net_revenue_retention, loaded).set_index("period")
    last = nrr.iloc[-1]  # the twelve months to 11 September 2025 (as-of)
    assert last["measured_at"] == AS_OF
    assert last["customers"] == 5  # a1, a2, a3, a4, a8
    assert last["arr_start"] == pytest.approx(1500 + 2000 + 900 + 500 + 750)
    assert (last["expansion"], last["contraction"], last["churned"]) == (400, 350, 2900)
    # a2's expansion after its win-back counts; its new 800 does not (new business)
    assert last["nrr"] == pytest.approx(2800 / 5650)
    # a1 1500 - 300, a2 and a3 churn all, a4 500 - 50, a8 750: expansion offsets nothing
    assert last["grr"] == pytest.approx((1200 + 0 + 0 + 450 + 750) / 5650)
    assert (last["churned_logos"], last["expanded_logos"]) == (2, 3)
    # In the window to 1 April 2025 a3 (start 600) expands by 300, then churns 900: it keeps
    # 0, not -300; a1 keeps 1000 - 300 although it expanded by 700
    q1 = nrr.loc[pd.Timestamp("2025-01-01").date()]
    assert q1["customers"] == 4 and q1["arr_start"] == 4100
    assert q1["grr"] == pytest.approx((700 + 0 + 0 + 500) / 4100)
    grown = run(expansion, loaded).set_index("cohort")
    assert grown["advocates"].tolist() == [2, 0, 1, 0]  # a6 is no customer; a5 after as-of
    assert grown["median_days_to_first_expansion"].iloc[1] == 0  # a4: at the first win


def test_plan_without_advocate_stage_gives_null_share(tmp_path: Path) -> None:
    """The starter plan has no account stage after the customer stage: advocate share is null."""
    ws = Workspace.init(tmp_path / "ws")
    write(tmp_path / "files" / "accounts.csv", ACCOUNTS)
    write(tmp_path / "files" / "revenue.csv", REVENUE)
    ws.import_files([tmp_path / "files"])
    frame = run(expansion, ws)
    ws.close()
    assert frame["advocate_share"].isna().all() and (frame["advocates"] == 0).all()
    assert frame["customers"].sum() == 7


def test_empty_workspace_gives_empty_frames(workspace: Workspace) -> None:
    """Without revenue rows there are no customers: three empty frames with the columns."""
    for metric in (retention, net_revenue_retention, expansion):
        frame = run(metric, workspace, by=["segment"])
        assert frame.empty and "segment" in frame.columns


def test_bad_inputs_are_user_errors(loaded: Workspace) -> None:
    """A week period, a dimension not of accounts and a bad as-of are MissionlineErrors."""
    with pytest.raises(MissionlineError, match="unknown period 'week'"):
        run(retention, loaded, period="week")
    with pytest.raises(MissionlineError, match="not accounts"):
        run(net_revenue_retention, loaded, by=["channel"])
    with pytest.raises(MissionlineError, match="unknown dimension"):
        run(expansion, loaded, by=["colour"])
    with pytest.raises(MissionlineError, match="invalid as-of"):
        run(retention, loaded, as_of="soon")


def test_cli_json_contract(loaded: Workspace) -> None:
    """Without --view JSON is one object of three row lists; with --view, that view's rows."""
    app = typer.Typer()
    app.callback()(lambda: None)  # a group, so that the command is called by its name
    register_lifecycle_commands(app)
    runner = CliRunner()
    base = ["lifecycle", "-w", str(loaded.folder), "--by", "segment", "--format", "json"]
    result = runner.invoke(app, base)
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert set(payload) == {"retention", "nrr", "expansion"}
    assert {"segment", "cohort", "age", "logo_retention", "revenue_retention"} <= set(
        payload["retention"][0]
    )
    assert {"segment", "period", "nrr", "grr", "logo_churn_rate"} <= set(payload["nrr"][0])
    assert {"cohort", "expansion_rate", "advocate_share"} <= set(payload["expansion"][0])
    one = runner.invoke(app, [*base, "--view", "nrr", "--period", "year", "--as-of", "2025-06-30"])
    assert one.exit_code == 0, one.output
    rows = json.loads(one.stdout)
    assert isinstance(rows, list) and rows[-1]["measured_at"] == "2025-06-30T00:00:00"
    csv = runner.invoke(app, ["lifecycle", "-w", str(loaded.folder), "-f", "csv"])
    assert isinstance(csv.exception, MissionlineError) and "--view" in str(csv.exception)
    table = runner.invoke(app, ["lifecycle", "-w", str(loaded.folder), "--view", "expansion"])
    assert table.exit_code == 0 and "Fixture: expansion and advocacy" in table.output


# --- the demo: true parameters recovered --------------------------------------------------------


@pytest.fixture(scope="module")
def demo(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Workspace, dict, dict[str, pd.DataFrame]]:
    """An 80,000-lead, 36-month demo company: the tables the lifecycle reads, and its truth.

    Only accounts, owners, revenue and account stage events are imported (fast), and the raw
    tables are kept for the references.
    """
    folder = tmp_path_factory.mktemp("demo")
    company = generate_company(leads=80_000, seed=7, months=36)
    events = company.tables["stage_events"]
    subset = {
        "accounts": company.tables["accounts"],
        "owners": company.tables["owners"],
        "revenue": company.tables["revenue"],
        "stage_events": events.filter(pc.equal(events["record_type"], "account")),
    }
    for name, table in subset.items():
        pq.write_table(table, folder / f"{name}.parquet")
    ws = Workspace.init(folder / "ws", "demo")
    ws.import_files([folder / f"{name}.parquet" for name in subset])
    raw = {name: company.tables[name].to_pandas() for name in ("revenue", "opportunities")}
    raw["stage_events"] = subset["stage_events"].to_pandas()
    raw["accounts"] = subset["accounts"].to_pandas()
    yield ws, company.truth, raw  # type: ignore[misc]
    ws.close()


def _customers(raw: dict[str, pd.DataFrame], end: pd.Timestamp) -> pd.DataFrame:
    """Per customer: segment, first win and first churn row after it (end when none)."""
    revenue = raw["revenue"]
    wins = revenue[(revenue["kind"] == "new") & (revenue["amount"] > 0)]
    first = wins.groupby("account_id")["at"].min().rename("t0")
    churn = revenue[revenue["kind"] == "churn"].merge(first, on="account_id")
    churn = churn[churn["at"] > churn["t0"]].groupby("account_id")["at"].min().rename("churn")
    out = first.to_frame().join(churn)
    out["churn"] = out["churn"].fillna(end)
    segments = raw["accounts"].set_index("account_id")["segment"]
    return out.join(segments)


def _normal_cdf(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1 + np.vectorize(math.erf)(z / math.sqrt(2)))


def test_demo_realised_counts(demo: tuple[Workspace, dict, dict]) -> None:
    """Customers, expanded customers and advocates equal the generator's realised counts."""
    ws, truth, _ = demo
    frame = run(expansion, ws, as_of=truth["end"])
    realised = truth["customers"]["realised"]
    assert frame["customers"].sum() == realised["customers"]
    assert frame["expanded"].sum() == realised["expanded"]
    assert frame["advocates"].sum() == realised["advocates"]


def test_demo_days_to_first_expansion_match_the_stage_events(
    demo: tuple[Workspace, dict, dict],
) -> None:
    """Median and p90 days to the first expansion per yearly cohort equal the generator's own
    expansion-stage entries (logged at the first further win) minus its customer entries."""
    ws, truth, raw = demo
    events = raw["stage_events"].pivot_table(
        index="record_id", columns="stage", values="entered_at", aggfunc="min"
    )
    days = (events["expansion"] - events["customer"]).dt.total_seconds() / 86400
    cohort = events["customer"].dt.year
    frame = run(expansion, ws, period="year", as_of=truth["end"])
    for _, row in frame.iterrows():
        sample = days[(cohort == row["cohort"].year) & days.notna()]
        assert row["expanded"] == len(sample)
        assert row["median_days_to_first_expansion"] == pytest.approx(np.quantile(sample, 0.5))
        assert row["p90_days_to_first_expansion"] == pytest.approx(np.quantile(sample, 0.9))


def test_demo_annual_churn_probability_by_segment(demo: tuple[Workspace, dict, dict]) -> None:
    """The trailing-year logo churn rate per segment is within 3 standard errors of the truth.

    Churn is drawn independently at each anniversary, and every customer active at the start
    of a twelve-month window meets exactly one anniversary in it.
    """
    ws, truth, _ = demo
    probability = truth["churn"]["annual_probability_by_segment"]
    frame = run(net_revenue_retention, ws, by=["segment"], period="year", as_of=truth["end"])
    last = frame[frame["period"] == frame["period"].max()].set_index("segment")
    assert set(last.index) == set(probability)
    for segment, p in probability.items():
        n = last.loc[segment, "customers"]
        assert n > 100, segment
        z = (last.loc[segment, "logo_churn_rate"] - p) / math.sqrt(p * (1 - p) / n)
        assert abs(z) < 3, (segment, last.loc[segment, "logo_churn_rate"], p, z)


def test_demo_advocate_probability_by_segment(demo: tuple[Workspace, dict, dict]) -> None:
    """Advocates per segment are within 3 standard deviations of the truth's expectation.

    A customer becomes an advocate with its segment's probability, after a lognormal lag,
    if that comes before its churn and the end of the data: the expectation sums
    p * P(lag < min(churn, end) - first win) over the customers.
    """
    ws, truth, raw = demo
    end = pd.Timestamp(truth["end"])
    params = truth["customers"]
    lag = params["advocate_lag_days"]
    customers = _customers(raw, end)
    frame = run(expansion, ws, by=["segment"], as_of=end)
    counts = frame.groupby("segment")["advocates"].sum()
    for segment, p in params["advocate_probability"].items():
        rows = customers[customers["segment"] == segment]
        window = (rows["churn"] - rows["t0"]).dt.total_seconds().to_numpy() / 86400
        z = (np.log(window) - np.log(lag["median"])) / lag["sigma"]
        q = p * _normal_cdf(z)
        sd = math.sqrt(float((q * (1 - q)).sum()))
        assert abs(counts[segment] - q.sum()) < 3 * sd, (segment, counts[segment], q.sum(), sd)


def test_demo_expansion_probability(demo: tuple[Workspace, dict, dict]) -> None:
    """Customers with two observed years, no first-anniversary churn and no second new-business
    win expand with probability expansion-opportunity probability * expansion win rate.

    Their expansion opportunity (lag median 150 days) nearly always opens and closes within two
    years; a later new-business win at a customer is also expansion revenue, so those customers
    are left out. The share is compared with the mix of per-segment probabilities.
    """
    ws, truth, raw = demo
    end = pd.Timestamp(truth["end"])
    params = truth["customers"]
    customers = _customers(raw, end)
    two_years = pd.Timedelta(days=730)
    opps = raw["opportunities"]
    won_new = opps[(opps["kind"] == "new") & (opps["status"] == "won")]
    repeat = won_new.groupby("account_id").size()
    eligible = customers[
        (customers["t0"] <= end - two_years)
        & (customers["churn"] > customers["t0"] + two_years)
        & ~customers.index.isin(repeat[repeat > 1].index)
    ]
    frame = run(expansion, ws, by=["accounts.account_id"], period="year", as_of=end)
    frame = frame.set_index("accounts_account_id").loc[eligible.index]
    p = np.array(
        [
            params["expansion_opportunity_probability"][s] * params["expansion_win_rate"][s]
            for s in eligible["segment"]
        ]
    )
    assert len(p) > 200
    expected, sd = p.sum(), math.sqrt(float((p * (1 - p)).sum()))
    assert abs(frame["expanded"].sum() - expected) < 3 * sd, (frame["expanded"].sum(), expected)


def test_demo_section_reads_the_numbers(demo: tuple[Workspace, dict, dict]) -> None:
    """The report section has the heat map and the trend, and its reading quotes the NRR."""
    ws, _, _ = demo
    section = lifecycle_section(ws)
    assert section is not None and len(section.charts) == 2
    nrr = run(net_revenue_retention, ws).iloc[-1]
    assert f"NRR was {nrr['nrr']:.0%}" in section.reading
    assert "retains best" in section.reading
    assert {row["segment"] for row in section.rows} >= {"computing", "transportation"}
