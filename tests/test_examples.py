"""The "try it on real data" examples: each imports its public data set and measures it right.

Every expected number is computed independently with pandas from the raw CSV files in
../shared/data (skipped when that folder is absent, failed when CI=true; see conftest.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from missionline.cli.main import main
from missionline.data.importer import LoadReport
from missionline.workspace import Workspace

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
OLIST_MQLS = "olist_marketing_qualified_leads_dataset.csv"
OLIST_DEALS = "olist_closed_deals_dataset.csv"
BRAZIL = "America/Sao_Paulo"
SECONDS_PER_DAY = 86400.0


def snapshot(ws: Workspace) -> dict[str, list[tuple[object, ...]]]:
    """Every non-empty table's rows, sorted, for comparing a workspace before and after."""
    out = {}
    for name, table in ws.schema.items():
        frame = ws.table(name)[table.names()]
        rows = [
            tuple(None if pd.isna(v) else v for v in row)
            for row in frame.itertuples(index=False, name=None)
        ]
        if rows:
            out[name] = sorted(rows, key=repr)
    return out


def assert_unchanged(report: LoadReport) -> None:
    """Every table of an import was left exactly as it was."""
    assert report.tables
    for load in report.tables:
        assert (load.inserted, load.updated, load.unchanged) == (0, 0, load.rows), load


# --- Olist -------------------------------------------------------------------------------------


def utc(local: pd.Series) -> pd.Series:
    """Brazilian wall-clock times as naive UTC, as the mapping's time zone stores them.

    Local midnight on the day Brazil moved its clocks forward (2017-10-15) did not exist; it is
    read as the first instant that did, as DuckDB does.
    """
    stamps = pd.to_datetime(local).dt.tz_localize(BRAZIL, nonexistent="shift_forward")
    return stamps.dt.tz_convert("UTC").dt.tz_localize(None)


@pytest.fixture(scope="module")
def olist_raw(shared_data: Path) -> pd.DataFrame:
    """One row per MQL with its origin (missing -> unknown) and, if it was won, the won date."""
    mqls = pd.read_csv(shared_data / "olist" / OLIST_MQLS)
    deals = pd.read_csv(shared_data / "olist" / OLIST_DEALS)
    raw = mqls.merge(deals, on="mql_id", how="left", validate="one_to_one")
    raw["origin"] = raw["origin"].fillna("unknown")
    raw["contact_utc"] = utc(raw["first_contact_date"])
    raw["won_utc"] = utc(raw["won_date"])
    raw["days_to_won"] = (raw["won_utc"] - raw["contact_utc"]).dt.total_seconds() / SECONDS_PER_DAY
    # The funnel counts a win only at or after the MQL's entry (one deal is dated before it).
    raw["converted"] = raw["days_to_won"] >= 0
    return raw


@pytest.fixture(scope="module")
def olist_import(
    shared_data: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Workspace, LoadReport]]:
    """A workspace made from examples/olist with both Olist files imported (API), and the report."""
    ws = Workspace.init(tmp_path_factory.mktemp("olist") / "ws", str(EXAMPLES / "olist"))
    data = shared_data / "olist"
    report = ws.import_files(
        [data / OLIST_MQLS, data / OLIST_DEALS], mapping=EXAMPLES / "olist" / "mapping.yaml"
    )
    yield ws, report
    ws.close()


@pytest.fixture
def olist(olist_import: tuple[Workspace, LoadReport]) -> Workspace:
    """The imported Olist workspace."""
    return olist_import[0]


def test_olist_plan_has_stages_mql_and_won(olist: Workspace) -> None:
    """The Olist plan's stages are mql (people) then won (opportunities)."""
    assert [(s.id, s.record_type) for s in olist.plan.lifecycle.stages] == [
        ("mql", "person"),
        ("won", "opportunity"),
    ]


def test_olist_loads_every_mql_and_deal(olist_import: tuple[Workspace, LoadReport]) -> None:
    """8,000 people with an mql entry each, 842 won opportunities with a won entry each."""
    olist, report = olist_import
    counts = {load.table: load.rows for load in report.tables}
    assert counts == {
        "accounts": 842,
        "people": 8000,
        "opportunities": 842,
        "stage_events": 8842,
    }
    funnel = olist.funnel().set_index("stage")
    assert funnel.loc["mql", "entries"] == 8000
    assert funnel.loc["won", "entries"] == 842
    assert (olist.table("opportunities")["status"] == "won").all()


def test_olist_import_raises_no_warning(olist_import: tuple[Workspace, LoadReport]) -> None:
    """The deal won before its first contact is not an import warning (see the README)."""
    assert olist_import[1].warnings == []


def test_olist_missing_origin_becomes_unknown(olist: Workspace, olist_raw: pd.DataFrame) -> None:
    """Missing origins are loaded as 'unknown', joining the file's own 'unknown' (1,159 in all)."""
    channels = olist.table("people")["source_channel"]
    assert channels.notna().all()
    assert (channels == "unknown").sum() == (olist_raw["origin"] == "unknown").sum() == 1159


def test_olist_conversion_by_origin_matches_pandas(
    olist: Workspace, olist_raw: pd.DataFrame
) -> None:
    """MQLs, wins, conversion and median days to won per origin equal pandas on the raw CSVs."""
    funnel = olist.funnel(by="channel")
    mql = funnel[funnel["stage"] == "mql"].set_index("channel")
    won = funnel[funnel["stage"] == "won"].set_index("channel")
    expected = olist_raw.groupby("origin").agg(
        mqls=("mql_id", "size"),
        won=("won_date", "count"),
        conversion=("converted", "mean"),
        median_days=("days_to_won", lambda d: d[d >= 0].median()),
    )
    assert sorted(mql.index) == sorted(expected.index)
    for key, row in expected.iterrows():
        origin = str(key)
        assert mql.loc[origin, "entries"] == row["mqls"], origin
        assert won.loc[origin, "entries"] == row["won"], origin
        assert mql.loc[origin, "conversion_to_next"] == pytest.approx(row["conversion"], abs=1e-12)
        assert mql.loc[origin, "median_days_to_next"] == pytest.approx(row["median_days"], 1e-9)


def test_olist_deal_won_before_first_contact(olist: Workspace, olist_raw: pd.DataFrame) -> None:
    """The one deal dated before its MQL's first contact counts as a win but not a conversion."""
    early = olist_raw[olist_raw["days_to_won"] < 0]
    assert early["mql_id"].tolist() == ["b91cf8812365f50ff4bda4bcd6206b05"]
    mql = olist.funnel().set_index("stage").loc["mql"]
    assert mql["conversion_to_next"] * mql["entries"] == pytest.approx(841)
    assert mql["median_days_to_next"] == pytest.approx(
        olist_raw.loc[olist_raw["converted"], "days_to_won"].median(), rel=1e-9
    )


def test_olist_won_by_segment_and_lead_type(olist: Workspace, olist_raw: pd.DataFrame) -> None:
    """Won deals per business segment (--by segment) and lead type equal the deals file's."""
    deals = olist_raw[olist_raw["won_date"].notna()]
    for by, column in (("segment", "business_segment"), ("opportunities.lead_type", "lead_type")):
        funnel = olist.funnel(by=by)
        name = funnel.columns[-1]
        won = funnel[(funnel["stage"] == "won") & (funnel["entries"] > 0)]
        got = dict(zip(won[name].fillna("(none)"), won["entries"], strict=True))
        expected = deals[column].fillna("(none)").value_counts().to_dict()
        assert got == expected, by


def test_olist_deal_keeps_reps_and_seller(olist: Workspace, olist_raw: pd.DataFrame) -> None:
    """Each opportunity keeps its seller (account), sales rep (owner) and SDR from the file."""
    opps = olist.table("opportunities").set_index("opportunity_id")
    deals = olist_raw[olist_raw["won_date"].notna()].set_index("mql_id")
    assert (opps.loc[deals.index, "owner_id"] == deals["sr_id"]).all()
    assert (opps.loc[deals.index, "sdr_id"] == deals["sdr_id"]).all()
    assert (opps.loc[deals.index, "account_id"] == deals["seller_id"]).all()
    assert (opps["person_id"] == opps.index).all()


def test_olist_reimport_changes_nothing(olist: Workspace, shared_data: Path) -> None:
    """Importing the same two files again inserts and updates nothing."""
    before = snapshot(olist)
    report = olist.import_files(
        [shared_data / "olist" / OLIST_MQLS, shared_data / "olist" / OLIST_DEALS],
        mapping=EXAMPLES / "olist" / "mapping.yaml",
    )
    assert_unchanged(report)
    assert snapshot(olist) == before


# --- Maven CRM ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def maven_raw(shared_data: Path) -> pd.DataFrame:
    """The raw pipeline with the engaged-to-close days of each closed deal."""
    raw = pd.read_csv(shared_data / "maven_crm" / "sales_pipeline.csv")
    raw["cycle_days"] = (
        pd.to_datetime(raw["close_date"]) - pd.to_datetime(raw["engage_date"])
    ).dt.days
    return raw


@pytest.fixture(scope="module")
def maven(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace folder made with the CLI from examples/maven_crm and the whole data folder."""
    folder = tmp_path_factory.mktemp("maven") / "ws"
    assert main(["init", "-w", str(folder), "--from", str(EXAMPLES / "maven_crm")]) == 0
    mapping = EXAMPLES / "maven_crm" / "mapping.yaml"
    data = shared_data / "maven_crm"
    assert main(["import", "-w", str(folder), "--mapping", str(mapping), str(data)]) == 0
    return folder


def test_maven_loads_dated_opportunities(maven: Path, maven_raw: pd.DataFrame) -> None:
    """Every opportunity with an engage date is loaded; the 500 undated Prospecting ones are not."""
    dated = maven_raw[maven_raw["engage_date"].notna()]
    assert (maven_raw["engage_date"].isna() == (maven_raw["deal_stage"] == "Prospecting")).all()
    with Workspace.open(maven) as ws:
        opps = ws.table("opportunities")
        assert len(opps) == len(dated) == 8300
        assert set(opps["opportunity_id"]) == set(dated["opportunity_id"])
        status = opps["status"].value_counts().to_dict()
        assert status == {"won": 4238, "lost": 2473, "open": 1589}
        assert len(ws.table("owners")) == 35
        assert len(ws.table("accounts")) == 85


def test_maven_win_rate_and_counts_by_agent(maven: Path, maven_raw: pd.DataFrame) -> None:
    """Engaged, won and lost deals, win rate and median cycle per agent equal pandas."""
    closed = maven_raw[maven_raw["deal_stage"].isin(["Won", "Lost"])]
    won_deals = maven_raw[maven_raw["deal_stage"] == "Won"]
    expected = pd.DataFrame(
        {
            "engaged": maven_raw[maven_raw["engage_date"].notna()].groupby("sales_agent").size(),
            "won": won_deals.groupby("sales_agent").size(),
            "win_rate": (closed["deal_stage"] == "Won").groupby(closed["sales_agent"]).mean(),
            "cycle": won_deals.groupby("sales_agent")["cycle_days"].median(),
        }
    )
    assert len(expected) == 30
    with Workspace.open(maven) as ws:
        opps = ws.table("opportunities")
        decided = opps[opps["status"] != "open"]
        win_rate = (decided["status"] == "won").groupby(decided["owner_id"]).mean()
        funnel = ws.funnel(by="owner")
    entered = funnel[funnel["stage"] == "opportunity"].set_index("owner")
    won = funnel[funnel["stage"] == "won"].set_index("owner")
    for key, row in expected.iterrows():
        agent = str(key)
        assert entered.loc[agent, "entries"] == row["engaged"], agent
        assert won.loc[agent, "entries"] == row["won"], agent
        assert win_rate[agent] == pytest.approx(row["win_rate"], abs=1e-12), agent
        assert entered.loc[agent, "median_days_to_next"] == pytest.approx(row["cycle"]), agent
    overall = (closed["deal_stage"] == "Won").mean()
    assert (decided["status"] == "won").mean() == pytest.approx(overall, abs=1e-12)
    assert overall == pytest.approx(4238 / 6711)


def test_maven_funnel_json_by_agent(
    maven: Path, maven_raw: pd.DataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    """`missionline funnel --by owner -f json` reports each agent's won deals as pandas counts."""
    capsys.readouterr()
    assert main(["funnel", "-w", str(maven), "--by", "owner", "-f", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    got = {r["owner"]: r["entries"] for r in rows if r["stage"] == "won"}
    expected = maven_raw[maven_raw["deal_stage"] == "Won"].groupby("sales_agent").size()
    assert got == expected.to_dict()


def test_maven_product_names_match_the_catalogue(
    maven: Path, maven_raw: pd.DataFrame, shared_data: Path
) -> None:
    """'GTXPro' is loaded as 'GTX Pro', so every product matches products.csv."""
    catalogue = set(pd.read_csv(shared_data / "maven_crm" / "products.csv")["product"])
    dated = maven_raw[maven_raw["engage_date"].notna()]
    with Workspace.open(maven) as ws:
        products = ws.table("opportunities")["product"].value_counts()
    assert set(products.index) == catalogue
    assert products["GTX Pro"] == (dated["product"] == "GTXPro").sum()


def test_maven_amount_status_and_missing_accounts(maven: Path, maven_raw: pd.DataFrame) -> None:
    """Amounts are close values; deals without an account are open and loaded without one."""
    raw = maven_raw.set_index("opportunity_id")
    with Workspace.open(maven) as ws:
        opps = ws.table("opportunities").set_index("opportunity_id")
        accounts = ws.table("accounts")
    closed = opps[opps["status"] != "open"]
    assert (closed["amount"] == raw.loc[closed.index, "close_value"]).all()
    assert opps.loc[opps["status"] == "open", "amount"].isna().all()
    no_account = opps[opps["account_id"].isna()]
    assert len(no_account) == raw.loc[opps.index, "account"].isna().sum() == 1088
    assert (no_account["status"] == "open").all()
    assert "technology" in set(accounts["industry"])
    assert "technolgy" not in set(accounts["industry"])


def test_maven_stage_events_follow_deal_stage(maven: Path, maven_raw: pd.DataFrame) -> None:
    """One opportunity entry per engaged deal and one won or lost entry per closed deal."""
    with Workspace.open(maven) as ws:
        events = ws.table("stage_events")
    counts = events["stage"].value_counts().to_dict()
    stages = maven_raw["deal_stage"].value_counts()
    assert counts == {
        "opportunity": int(maven_raw["engage_date"].notna().sum()),
        "won": int(stages["Won"]),
        "lost": int(stages["Lost"]),
    }


def test_maven_reimport_changes_nothing(
    maven: Path, shared_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Importing the whole folder again with the CLI leaves every table as it was."""
    with Workspace.open(maven) as ws:
        before = snapshot(ws)
    mapping = EXAMPLES / "maven_crm" / "mapping.yaml"
    data = shared_data / "maven_crm"
    capsys.readouterr()
    assert main(["import", "-w", str(maven), "--mapping", str(mapping), str(data)]) == 0
    out = capsys.readouterr().out
    # owners, accounts, opportunities and stage_events: each "N rows: 0 inserted, 0 updated".
    assert out.count(" 0 inserted, 0 updated") == 4, out
    with Workspace.open(maven) as ws:
        assert snapshot(ws) == before
