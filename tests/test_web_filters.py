"""Dashboard filters narrow the tables as documented, matching a plain pandas reference."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from missionline.errors import MissionlineError
from missionline.web.filters import Filters, apply_filters, filtered
from missionline.workspace import Workspace
from test_web_support import client_as, fixture_workspace, web_app

from conftest import load_fixture, write

IdSets = tuple[set[str], set[str], set[str]]


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    """The fixture company plus owners, touches, spend and revenue to narrow."""
    folder = tmp_path_factory.mktemp("filters")
    workspace = Workspace.init(folder / "ws")
    load_fixture(workspace, folder / "files")
    extra = folder / "extra"
    write(extra / "owners.csv", "owner_id,name,team\nsdr1,Sam,sdr\nae1,Ada,ae\n")
    write(
        extra / "stage_events.csv",
        """
        record_id,record_type,stage,entered_at,owner_id,reason
        p2,person,sal,2024-02-16 06:00:00,sdr1,
        p3,person,sql,2024-01-25 00:00:00,sdr1,
        o3,opportunity,lost,2024-04-01 00:00:00,ae1,price
        """,
    )
    write(
        extra / "opportunities.csv",
        """
        opportunity_id,account_id,person_id,created_at,closed_at,amount,currency,status,kind,owner_id,loss_reason
        o1,a1,p1,2024-01-20,2024-03-01,1000,USD,won,new,ae1,
        """,
    )
    write(
        extra / "touches.csv",
        """
        touch_id,person_id,account_id,at,channel,initiative_id,function,kind
        t1,p1,a1,2024-01-02,webinar,,marketing,email
        t2,,a2,2024-02-02,events,,sales,call
        t3,p4,,2024-01-04,paid,,marketing,ad
        t4,p3,a2,2024-03-05,webinar,,sales,meeting
        """,
    )
    write(
        extra / "spend.csv",
        """
        initiative_id,channel,function,period_start,period_end,amount,currency
        ,webinar,marketing,2024-01-01,2024-02-01,500,USD
        ,events,marketing,2024-02-01,2024-03-01,300,USD
        ,,sales,2024-01-01,2024-04-01,900,USD
        """,
    )
    write(
        extra / "revenue.csv",
        """
        account_id,at,amount,kind
        a1,2024-03-01,1000,new
        a2,2024-04-15,50,purchase
        """,
    )
    workspace.import_files([extra])
    yield workspace
    workspace.close()


def frames(ws: Workspace) -> dict[str, pd.DataFrame]:
    """Every canonical table as pandas, for the reference."""
    return {name: ws.table(name) for name in ws.schema}


def reference_ids(t: dict[str, pd.DataFrame], name: str, value: str) -> IdSets:
    """The people, opportunities and accounts a dimension filter keeps, by the documented rules."""
    people, opps, accounts, events = (
        t["people"],
        t["opportunities"],
        t["accounts"],
        t["stage_events"],
    )
    if name in ("market", "segment"):
        a = set(accounts.loc[accounts[name] == value, "account_id"])
        return (
            set(people.loc[people.account_id.isin(a), "person_id"]),
            set(opps.loc[opps.account_id.isin(a), "opportunity_id"]),
            a,
        )
    owned = events[events.owner_id == value]
    if name == "channel":
        p = set(people.loc[people.source_channel == value, "person_id"])
        o = set(opps.loc[opps.person_id.isin(p), "opportunity_id"])
        a: set[str] = set()
    else:
        p = set(owned.loc[owned.record_type == "person", "record_id"])
        o = set(owned.loc[owned.record_type == "opportunity", "record_id"])
        o |= set(opps.loc[opps.owner_id == value, "opportunity_id"])
        o |= set(opps.loc[opps.person_id.isin(p), "opportunity_id"])
        a = set(owned.loc[owned.record_type == "account", "record_id"])
    a |= set(people.loc[people.person_id.isin(p), "account_id"].dropna())
    a |= set(opps.loc[opps.opportunity_id.isin(o), "account_id"].dropna())
    return p, o, a


def ids(frame: pd.DataFrame, column: str) -> set[str]:
    """The distinct values of a column."""
    return set(frame[column].dropna())


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("market", "europe"),
        ("segment", "transportation"),
        ("channel", "webinar"),
        ("channel", "events"),
        ("owner", "sdr1"),
        ("owner", "ae1"),
        ("market", "mars"),
    ],
)
def test_a_dimension_filter_keeps_what_the_rules_say(ws: Workspace, name: str, value: str) -> None:
    """Records, their events, touches, revenue and attributable spend, as the pandas reference."""
    t = frames(ws)
    people, opps, accounts = reference_ids(t, name, value)
    narrowed = {
        k: v.to_pandas()
        for k, v in apply_filters(ws.tables(), ws.plan, Filters(**{name: value})).items()
    }
    assert ids(narrowed["people"], "person_id") == people
    assert ids(narrowed["opportunities"], "opportunity_id") == opps
    assert ids(narrowed["accounts"], "account_id") == accounts
    kept = {"person": people, "opportunity": opps, "account": accounts}
    events = t["stage_events"]
    expected_events = events[
        [r in kept[k] for r, k in zip(events.record_id, events.record_type, strict=True)]
    ]
    assert len(narrowed["stage_events"]) == len(expected_events)
    touches = t["touches"]
    mine = touches.person_id.isin(people) | (
        touches.person_id.isna() & touches.account_id.isin(accounts)
    )
    assert ids(narrowed["touches"], "touch_id") == set(touches.loc[mine, "touch_id"])
    assert ids(narrowed["revenue"], "account_id") == ids(
        t["revenue"][t["revenue"].account_id.isin(accounts)], "account_id"
    )
    spend = t["spend"]
    expected_spend = spend.channel == value if name == "channel" else spend.channel.isna() & False
    assert narrowed["spend"]["amount"].sum() == spend.loc[expected_spend, "amount"].sum()
    assert len(narrowed["owners"]) == len(t["owners"])


def test_filters_combine_with_and(ws: Workspace) -> None:
    """Two filters keep the records both keep."""
    t = frames(ws)
    market = reference_ids(t, "market", "japan")
    channel = reference_ids(t, "channel", "webinar")
    both = apply_filters(ws.tables(), ws.plan, Filters(market="japan", channel="webinar"))
    assert ids(both["people"].to_pandas(), "person_id") == market[0] & channel[0]
    assert ids(both["opportunities"].to_pandas(), "opportunity_id") == market[1] & channel[1]


def test_a_period_is_what_happened_in_it_seen_at_its_end(ws: Workspace) -> None:
    """Events inside the window; open opportunities at its end; later closes shown as open."""
    t = frames(ws)
    start, end = pd.Timestamp("2024-02-01"), pd.Timestamp("2024-04-01")
    got = {
        k: v.to_pandas()
        for k, v in apply_filters(ws.tables(), ws.plan, Filters(period="2024-02")).items()
    }
    assert (
        got["stage_events"]["entered_at"].between(start, pd.Timestamp("2024-03-01"), "left").all()
    )
    window = apply_filters(ws.tables(), ws.plan, Filters(period="2024-Q1"))
    events = t["stage_events"]
    inside = events[
        (events.entered_at >= start - pd.DateOffset(months=1)) & (events.entered_at < end)
    ]
    assert window["stage_events"].count().execute() == len(inside)
    opps = window["opportunities"].to_pandas().set_index("opportunity_id")
    # o1 won on 2024-03-01 (inside), o2 is open, o3 lost on 2024-04-01 (after): open at the end
    assert opps.loc["o1", "status"] == "won" and opps.loc["o3", "status"] == "open"
    assert pd.isna(opps.loc["o3", "closed_at"]) and pd.isna(opps.loc["o3", "loss_reason"])
    spring = apply_filters(ws.tables(), ws.plan, Filters(period="2024-04"))
    spring_opps = spring["opportunities"].to_pandas().set_index("opportunity_id")
    assert set(spring_opps.index) == {"o2", "o3"}  # o1 closed before April
    assert spring_opps.loc["o3", "status"] == "lost"
    assert spring["revenue"].to_pandas()["amount"].tolist() == [50.0]
    assert spring["spend"].count().execute() == 0


def test_a_market_filter_gives_the_by_market_group(ws: Workspace) -> None:
    """The filtered funnel is the market's rows of ``funnel --by market``."""
    by = ws.funnel(by="market")
    for market in ("europe", "japan"):
        view = filtered(ws, Filters(market=market)).funnel()
        group = by[by["market"] == market].drop(columns="market").reset_index(drop=True)
        pd.testing.assert_frame_equal(view, group, check_dtype=False)


def test_a_channel_filter_gives_the_by_channel_group_on_the_path_of_people(ws: Workspace) -> None:
    """Person and opportunity stages match ``funnel --by channel``; accounts are followed."""
    by = ws.funnel(by="channel")
    view = filtered(ws, Filters(channel="webinar")).funnel()
    group = by[by["channel"] == "webinar"].reset_index(drop=True)
    assert view["entries"].tolist() == group["entries"].tolist()
    pd.testing.assert_series_equal(
        view["conversion_to_next"], group["conversion_to_next"], check_names=False
    )


@pytest.mark.parametrize(
    ("text", "window"),
    [
        ("2025", (dt.datetime(2025, 1, 1), dt.datetime(2026, 1, 1))),
        ("2025-Q4", (dt.datetime(2025, 10, 1), dt.datetime(2026, 1, 1))),
        ("2025-12", (dt.datetime(2025, 12, 1), dt.datetime(2026, 1, 1))),
        ("2024-02", (dt.datetime(2024, 2, 1), dt.datetime(2024, 3, 1))),
    ],
)
def test_periods_are_years_quarters_or_months(text: str, window: tuple[dt.datetime, ...]) -> None:
    """A period names a calendar year, quarter or month, as [start, end)."""
    assert Filters(period=text).window() == window


def test_filters_parse_from_and_back_to_the_url() -> None:
    """Blank values are no filter; the query string reproduces the filters; bad ones fail."""
    filters = Filters.parse({"market": " europe ", "segment": "", "period": "2025-Q1", "x": "y"})
    assert filters == Filters(period="2025-Q1", market="europe")
    assert filters.query() == "period=2025-Q1&market=europe"
    assert Filters.parse({}).active() == {}
    for bad in ({"period": "2025-Q5"}, {"period": "25"}, {"owner": "x" * 201}):
        with pytest.raises(MissionlineError):
            Filters.parse(bad)


def test_pages_show_no_data_rather_than_fail_for_an_empty_view(tmp_path: Path) -> None:
    """A filter matching nothing leaves every section saying so, with no server error."""
    app = web_app(fixture_workspace(tmp_path))
    try:
        client = client_as(app, "viewer")
        for page in ("/", "/process", "/plan"):
            response = client.get(page + "?market=mars&period=2019")
            assert response.status_code == 200, page
        assert "No data for this view." in client.get("/process?market=mars&period=2019").text
    finally:
        app.state.missionline.pool.close()
