"""CRM export presets: ``init --from hubspot|salesforce`` and ``import --preset`` on vendor exports.

The fixture exports in tests/data/hubspot and tests/data/salesforce imitate what the vendors
write and what spreadsheets write back: a byte-order mark, CRLF line endings, values quoted or
not, multi-line values, US and day-first dates, amounts with thousands separators and currency
signs, blank stages, records exported twice. Every expected number below was counted by hand
from those files (the comments say how).
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from missionline.cli.main import main
from missionline.data.importer import LoadReport
from missionline.data.mapping import ColumnSpec
from missionline.errors import DataValidationError, MissionlineError
from missionline.presets import PRESETS, preset_mapping, preset_plan
from missionline.workspace import Workspace

from conftest import write

DATA = Path(__file__).resolve().parent / "data"
DEALS = "hubspot-crm-exports-all-deals-2026-01-31.csv"
CONTACTS = "hubspot-crm-exports-all-contacts-2026-01-31.csv"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run the CLI in-process; return the exit status, stdout and stderr."""
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def imported(tmp: Path, preset: str) -> tuple[Workspace, LoadReport]:
    """A workspace started from the preset's plan, with the preset's fixture exports imported."""
    ws = Workspace.init(tmp / "ws", preset)
    return ws, ws.import_files([DATA / preset], preset_mapping(preset))


def row(frame: pd.DataFrame, key: str, value: str) -> dict[str, object]:
    """The one row of ``frame`` whose ``key`` column is ``value``, as a dict (None if null)."""
    (found,) = frame[frame[key] == value].to_dict("records")
    return {k: None if pd.isna(v) else v for k, v in found.items()}


def funnel_columns(ws: Workspace) -> dict[str, tuple[int, float | None]]:
    """Stage -> (entries, conversion to the next stage) of the cohort funnel."""
    frame = ws.funnel()
    conversion = frame["conversion_to_next"].astype(object).where(frame["entries"] > 0, None)
    pairs = zip(frame["entries"], conversion, strict=True)
    return {
        stage: (int(n), None if c is None or pd.isna(c) else round(float(c), 4))
        for stage, (n, c) in zip(frame["stage"], pairs, strict=True)
    }


# --- HubSpot ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hubspot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workspace, LoadReport]]:
    """The HubSpot fixture exports imported into a workspace started ``--from hubspot``."""
    ws, report = imported(tmp_path_factory.mktemp("hubspot"), "hubspot")
    yield ws, report
    ws.close()


def test_hubspot_imports_without_editing(hubspot: tuple[Workspace, LoadReport]) -> None:
    """Every export loads; the company and the contact exported twice are loaded once."""
    _, report = hubspot
    loads = {load.table: load.rows for load in report.tables}
    # 3 companies; 6 contacts; 5 deals; 19 contact and 10 deal stage entries (counted below).
    assert loads == {"accounts": 3, "people": 6, "opportunities": 5, "stage_events": 29}
    assert [str(w) for w in report.warnings] == [
        "accounts: 1 exact duplicate row was loaded once",
        "people: 1 exact duplicate row was loaded once",
        "stage_events: 2 exact duplicate rows were loaded once",
    ]


def test_hubspot_funnel_matches_the_hand_count(hubspot: tuple[Workspace, LoadReport]) -> None:
    """Entries per stage and conversion to the next, as counted by hand from the exports."""
    ws, _ = hubspot
    # Contacts: subscriber 103, 106 (103 became a lead); lead 101, 102, 103, 105 (all MQLs);
    # SQL 101, 103, 105 (not 102); opportunity 101, 103, 105, whose deals 5001 and 5002 were
    # scheduled (105's deal 5004 has no stage). Deals: scheduled 5001-5003, qualified 5001 and
    # 5002, presentation 5002 only (5001 skipped it), decision maker, contract and won 5001,
    # whose contact 101 is a customer, as is 105; 105 is the only evangelist.
    assert funnel_columns(ws) == {
        "subscriber": (2, 0.5),
        "lead": (4, 1.0),
        "marketingqualifiedlead": (4, 0.75),
        "salesqualifiedlead": (3, 1.0),
        "opportunity": (3, 0.6667),
        "appointmentscheduled": (3, 0.6667),
        "qualifiedtobuy": (2, 0.5),
        "presentationscheduled": (1, 0.0),
        "decisionmakerboughtin": (1, 1.0),
        "contractsent": (1, 1.0),
        "closedwon": (1, 1.0),
        "customer": (2, 0.5),
        "evangelist": (1, None),
    }


def test_hubspot_quirks_are_read_right(hubspot: tuple[Workspace, LoadReport]) -> None:
    """US and day-first dates, euro amounts, lists of ids, blank stages and pipelines."""
    ws, _ = hubspot
    people, deals = ws.table("people"), ws.table("opportunities")
    # Contacts re-saved in US format: 11/3/2025 9:15 AM.
    assert row(people, "person_id", "101")["created_at"] == dt.datetime(2025, 11, 3, 9, 15)
    # "9002;9003": the first associated company; "Paid Search" by its label.
    assert row(people, "person_id", "102")["account_id"] == "9002"
    assert row(people, "person_id", "102")["source_channel"] == "paid_search"
    # Deals re-saved day-first: 02/12/2025 is 2 December, as 21/11/2025 shows for the file.
    assert row(deals, "opportunity_id", "5005")["created_at"] == dt.datetime(2025, 12, 2, 8)
    amounts = dict(zip(deals["opportunity_id"], deals["amount"], strict=True))
    assert amounts["5001"] == 12500.0 and amounts["5002"] == 8000.0 and amounts["5003"] == 4250.5
    statuses = dict(zip(deals["opportunity_id"], deals["status"], strict=True))
    # 5004 has no stage and 5005 is in another pipeline: both open.
    assert statuses == {
        "5001": "won",
        "5002": "open",
        "5003": "lost",
        "5004": "open",
        "5005": "open",
    }
    assert row(deals, "opportunity_id", "5004")["person_id"] == "105"  # "105;101"
    lost = row(deals, "opportunity_id", "5003")
    assert (lost["kind"], lost["loss_reason"], lost["person_id"]) == (
        "expansion",
        "No budget",
        None,
    )
    companies = ws.table("accounts")
    assert row(companies, "account_id", "9001")["employees"] == 1200  # "1,200"
    assert row(companies, "account_id", "9002")["name"] == "Brückner, Kraus & Co"
    # The export has no "Became an Other Lifecycle Date" column: no entries, no error.
    events = ws.table("stage_events")
    assert "other" not in set(events["stage"])
    lost_entry = events[(events["record_id"] == "5003") & (events["stage"] == "closedlost")]
    assert lost_entry["reason"].tolist() == ["No budget"]


def test_hubspot_reimport_changes_nothing(
    hubspot: tuple[Workspace, LoadReport], capsys: pytest.CaptureFixture[str]
) -> None:
    """Importing the same exports again (CLI, --preset) leaves every table as it was."""
    ws, _ = hubspot
    ws.close()
    code, out, _ = run(
        capsys, "import", "-w", str(ws.folder), "--preset", "hubspot", str(DATA / "hubspot")
    )
    assert code == 0
    assert out.count(" 0 inserted, 0 updated") == 4, out


def test_hubspot_error_names_file_line_and_column(tmp_path: Path) -> None:
    """A bad date after a multi-line value is reported on its own line of the file."""
    folder = tmp_path / "export"
    shutil.copytree(DATA / "hubspot", folder)
    deals = folder / DEALS
    # Deal 5003's create date; 5001's description spans lines 2-3, so 5003 is on line 5.
    deals.write_text(deals.read_text().replace("01/12/2025 09:30", "31/13/2025 09:30", 1))
    ws = Workspace.init(tmp_path / "ws", "hubspot")
    with pytest.raises(DataValidationError) as caught:
        ws.import_files([folder], preset_mapping("hubspot"))
    assert [str(p) for p in caught.value.problems] == [
        f"{deals}:5:Create Date: created_at: expected a timestamp, found '31/13/2025 09:30'"
    ]


def test_hubspot_missing_id_column_lists_the_columns(tmp_path: Path) -> None:
    """An export without its id column fails naming the columns the preset accepts."""
    folder = tmp_path / "export"
    folder.mkdir()
    contacts = folder / CONTACTS
    contacts.write_text((DATA / "hubspot" / CONTACTS).read_text().replace('"Record ID"', '"ID"', 1))
    ws = Workspace.init(tmp_path / "ws", "hubspot")
    with pytest.raises(DataValidationError) as caught:
        ws.import_files([contacts], preset_mapping("hubspot"))
    first = str(caught.value.problems[0])
    assert first.startswith(
        f"{contacts}:1:Record ID: the mapping reads one of the columns 'Record ID', 'Contact ID' "
        "for person_id, but the file has: "
    )


# --- Salesforce ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def salesforce(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workspace, LoadReport]]:
    """The Salesforce fixture export folder imported into a workspace ``--from salesforce``."""
    ws, report = imported(tmp_path_factory.mktemp("salesforce"), "salesforce")
    yield ws, report
    ws.close()


def test_salesforce_imports_the_whole_export_folder(
    salesforce: tuple[Workspace, LoadReport],
) -> None:
    """Every object loads (Task.csv is read into nothing); history rows are de-duplicated."""
    _, report = salesforce
    loads = {load.table: load.rows for load in report.tables}
    # 5 leads and 3 contacts; 12 lead and 13 opportunity stage entries (see the funnel test);
    # the campaign without cost or end date books no spend.
    assert loads == {
        "owners": 2,
        "accounts": 3,
        "people": 8,
        "opportunities": 4,
        "stage_events": 25,
        "touches": 4,
        "spend": 2,
    }
    # Two stage changes are in both OpportunityHistory and OpportunityFieldHistory.
    assert [str(w) for w in report.warnings] == [
        "stage_events: 2 exact duplicate rows were loaded once"
    ]


def test_salesforce_funnel_matches_the_hand_count(salesforce: tuple[Workspace, LoadReport]) -> None:
    """Entries per stage and conversion to the next, as counted by hand from the exports."""
    ws, _ = salesforce
    # Leads: all 5 open; 4 worked (not Emma); converted Ada and Dev (Cleo closed unconverted).
    # Ada's opportunity 0061 starts in Prospecting, Dev's 0062 in Qualification. Prospecting
    # 0061, 0063, 0064 (0063, 0064 not from a lead); qualification 0061, 0062, 0063; needs
    # analysis 0061 only, value proposition 0062 only; 0061 then skips to proposal; both 0061
    # and 0062 negotiate; 0061 is won. Repeated snapshot rows (0061 Prospecting twice, 0062
    # Negotiation twice) and a blank stage (0064) give no entry.
    assert funnel_columns(ws) == {
        "open_not_contacted": (5, 0.8),
        "working_contacted": (4, 0.5),
        "closed_converted": (2, 0.5),
        "prospecting": (3, 0.6667),
        "qualification": (3, 0.3333),
        "needs_analysis": (1, 0.0),
        "value_proposition": (1, 0.0),
        "id_decision_makers": (0, None),
        "perception_analysis": (0, None),
        "proposal_price_quote": (1, 1.0),
        "negotiation_review": (2, 0.5),
        "closed_won": (1, None),
    }


def test_salesforce_quirks_are_read_right(salesforce: tuple[Workspace, LoadReport]) -> None:
    """The converted lead found in Lead.csv, day-first dates, euro amounts, touches and spend."""
    ws, _ = salesforce
    opps = ws.table("opportunities")
    won = row(opps, "opportunity_id", "0061000001")
    # Lead.csv says 00Q1000001 was converted into 0061000001; 0061000003 came from no lead.
    assert won["person_id"] == "00Q1000001"
    assert row(opps, "opportunity_id", "0061000003")["person_id"] is None
    # Re-saved day-first: 02/11/2025 15:00 is 2 November (20/10/2025 shows the file's order).
    assert row(opps, "opportunity_id", "0061000002")["created_at"] == dt.datetime(2025, 11, 2, 15)
    assert (won["amount"], won["status"], won["kind"]) == (48000.0, "won", "new")
    assert row(opps, "opportunity_id", "0061000002")["amount"] == 12500.5
    lost = row(opps, "opportunity_id", "0061000003")
    assert (lost["status"], lost["kind"], lost["loss_reason"]) == ("lost", "expansion", "Price")
    events = ws.table("stage_events")
    ada = events[events["record_id"] == "00Q1000001"].sort_values("entered_at")
    # Ada's "Closed - Converted" history row gives no second conversion entry.
    assert ada["stage"].tolist() == ["open_not_contacted", "working_contacted", "closed_converted"]
    touches = ws.table("touches").sort_values("touch_id")
    # A converted lead's membership counts for the lead; a contact-only one for the contact.
    assert touches["person_id"].tolist() == ["00Q1000002", "00Q1000001", "0031000003", "00Q1000005"]
    assert touches["channel"].tolist() == ["trade_show", "trade_show", "webinar", "webinar"]
    spend = ws.table("spend").sort_values("initiative_id")
    assert spend["amount"].tolist() == [12000.0, 2500.5]  # "12,000.00" and "2500.5"


def test_salesforce_custom_stage_is_an_error_at_its_line(tmp_path: Path) -> None:
    """A stage the default picklist does not have names the file, line and column."""
    folder = tmp_path / "export"
    shutil.copytree(DATA / "salesforce", folder)
    history = folder / "OpportunityHistory.csv"
    history.write_text(history.read_text().replace('"Needs Analysis"', '"Discovery"'))
    ws = Workspace.init(tmp_path / "ws", "salesforce")
    with pytest.raises(DataValidationError) as caught:
        ws.import_files([folder], preset_mapping("salesforce"))
    (problem,) = caught.value.problems
    assert str(problem).startswith(f"{history}:5:stage: stage: unknown stage 'Discovery'")


def test_salesforce_lookup_file_without_its_column(tmp_path: Path) -> None:
    """A Lead.csv without ConvertedOpportunityId fails naming that file and column."""
    folder = tmp_path / "export"
    shutil.copytree(DATA / "salesforce", folder)
    leads = folder / "Lead.csv"
    leads.write_text(leads.read_text(encoding="utf-8-sig").replace("ConvertedOpportunityId", "X"))
    ws = Workspace.init(tmp_path / "ws", "salesforce")
    with pytest.raises(DataValidationError) as caught:
        ws.import_files([folder / "Opportunity.csv"], preset_mapping("salesforce"))
    (problem,) = caught.value.problems
    assert str(problem).startswith(
        f"{leads}:1:ConvertedOpportunityId: the mapping looks up column 'ConvertedOpportunityId' "
        "in this file, but it has: "
    )


# --- The presets themselves and the command line -----------------------------------------------


@pytest.mark.parametrize("preset", PRESETS)
def test_preset_plans_check_without_errors(
    preset: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``init --from PRESET`` writes the packaged plan, and ``plan check`` finds no error."""
    folder = tmp_path / "ws"
    assert run(capsys, "init", "-w", str(folder), "--from", preset)[0] == 0
    assert preset_plan(preset).read_text() in (folder / "missionline.yaml").read_text()
    code, out, err = run(capsys, "plan", "check", "-w", str(folder))
    assert code == 0 and "0 errors" in out + err


def test_unknown_preset_lists_the_presets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A misspelt preset, or --preset with --mapping, fails with status 2 and says why."""
    folder = tmp_path / "ws"
    assert run(capsys, "init", "-w", str(folder))[0] == 0
    code, _, err = run(
        capsys, "import", "-w", str(folder), "--preset", "hubspt", str(DATA / "hubspot")
    )
    assert code == 2 and "unknown preset 'hubspt'; the presets are: hubspot, salesforce" in err
    mapping = str(preset_mapping("hubspot"))
    args = ["import", "-w", str(folder), "--preset", "hubspot", "--mapping", mapping, str(DATA)]
    code, _, err = run(capsys, *args)
    assert code == 2 and "either --mapping or --preset" in err
    with pytest.raises(MissionlineError, match="the presets are: hubspot, salesforce"):
        preset_plan("pipedrive")


# --- The mapping language extensions the presets use ------------------------------------------


def opportunities_mapping(tmp_path: Path, amount: str) -> Path:
    """A mapping for deals*.csv: id, a fixed creation date and status, the given amount spec."""
    return write(
        tmp_path / "mapping.yaml",
        f"""
        files:
          - match: ["deals*.csv", "Deals*.csv"]
            tables:
              opportunities:
                opportunity_id: id
                created_at: {{value: "2026-01-01"}}
                status: {{value: open}}
                amount: {amount}
        """,
    )


def test_amounts_with_separators_and_currency_signs(workspace: Workspace, tmp_path: Path) -> None:
    """Each file is read with the decimal mark that reads all its amounts; signs are dropped."""
    m = opportunities_mapping(tmp_path, '{from: amount, decimal: [".", ","]}')
    us = write(tmp_path / "deals-us.csv", 'id,amount\nu1,"$1,234.50"\nu2,"USD 2,000"\nu3,12\n')
    eu = write(
        tmp_path / "Deals-eu.csv", 'id,amount\ne1,"1.234,50 €"\ne2,2 000\u00a0EUR\ne3,"1.000"\n'
    )
    workspace.import_files([us, eu], mapping=m)
    amounts = workspace.table("opportunities").set_index("opportunity_id")["amount"].to_dict()
    # "1.000" alone could be one or a thousand: its file is European, so a thousand.
    assert amounts == {
        "u1": 1234.5,
        "u2": 2000.0,
        "u3": 12.0,
        "e1": 1234.5,
        "e2": 2000.0,
        "e3": 1000.0,
    }


def test_an_amount_no_mark_reads_is_an_error(workspace: Workspace, tmp_path: Path) -> None:
    """A value that is no amount in either convention fails at its line with the value found."""
    m = opportunities_mapping(tmp_path, '{from: amount, decimal: [".", ","]}')
    deals = write(tmp_path / "deals.csv", "id,amount\nd1,10\nd2,12.5.0\nd3,ten\n")
    with pytest.raises(DataValidationError) as caught:
        workspace.import_files([deals], mapping=m)
    assert [str(p) for p in caught.value.problems] == [
        f"{deals}:3:amount: amount: expected a number, found '12.5.0'",
        f"{deals}:4:amount: amount: expected a number, found 'ten'",
    ]


def people_mapping(tmp_path: Path, extra: str = "") -> Path:
    """A mapping for leads.csv: people with US-or-day-first dates and an MQL date."""
    dates = '[["%m/%d/%Y %H:%M", "%m/%d/%Y"], ["%d/%m/%Y %H:%M", "%d/%m/%Y"]]'
    return write(
        tmp_path / "mapping.yaml",
        f"""
        files:
          - match: leads*.csv
            tables:
              people:
                person_id: id
                created_at: {{from: created, format: {dates}}}
                {extra}
            stage_events:
              - stage: mql
                at: {{from: mql, format: {dates}, optional: true}}
                record_id: id
        """,
    )


def test_one_date_order_per_file(workspace: Workspace, tmp_path: Path) -> None:
    """Dates that read both ways follow the file's other dates; a file of such dates reads US."""
    m = people_mapping(tmp_path)
    # 24/01/2026 in the MQL column makes the whole file day-first, creation dates included.
    dayfirst = write(tmp_path / "leads-a.csv", "id,created,mql\np1,05/01/2026 09:30,24/01/2026\n")
    ambiguous = write(tmp_path / "leads-b.csv", "id,created\np2,05/01/2026 09:30\n")
    workspace.import_files([dayfirst, ambiguous], mapping=m)
    created = workspace.table("people").set_index("person_id")["created_at"].to_dict()
    assert created == {"p1": dt.datetime(2026, 1, 5, 9, 30), "p2": dt.datetime(2026, 5, 1, 9, 30)}
    (mql,) = workspace.table("stage_events")["entered_at"]
    assert mql == dt.datetime(2026, 1, 24)


def test_alternative_columns_split_and_others(workspace: Workspace, tmp_path: Path) -> None:
    """The first filled of several columns, the first item of a list, a catch-all value."""
    extra = (
        "account_id: {from: [primary, companies], split: ';'}\n"
        "                source_channel: {from: src, values: {Web: web}, others: other}"
    )
    m = people_mapping(tmp_path, extra)
    write(tmp_path / "accounts.csv", "account_id\na1\na2\na3\n")
    leads = write(
        tmp_path / "leads.csv",
        "id,created,primary,companies,src\n"
        "p1,01/30/2026,a1,a2;a3,Web\n"
        "p2,01/30/2026,,a2;a3,Fair\n"
        "p3,01/30/2026,,,\n",
    )
    workspace.import_files([tmp_path / "accounts.csv"])
    workspace.import_files([leads], mapping=m)
    people = workspace.table("people").set_index("person_id").astype(object)
    people = people.where(people.notna(), None)
    assert people["account_id"].to_dict() == {"p1": "a1", "p2": "a2", "p3": None}
    # "Fair" is not listed: `others`; a blank source stays blank.
    assert people["source_channel"].to_dict() == {"p1": "web", "p2": "other", "p3": None}


def test_history_rows_filtered_and_collapsed(workspace: Workspace, tmp_path: Path) -> None:
    """`where` keeps the stage rows of a field history; `changes_only` drops repeated stages."""
    m = write(
        tmp_path / "mapping.yaml",
        """
        files:
          - match: history.csv
            stage_events:
              - stage: {from: value, values: {Open: opportunity, Won: won}}
                at: at
                record_id: deal
                record_type: opportunity
                where: {field: [Stage, StageName]}
                changes_only: true
        """,
    )
    history = write(
        tmp_path / "history.csv",
        "deal,field,value,at\n"
        "o1,created,,2026-01-01 09:00\n"
        "o1,Stage,Open,2026-01-01 09:00\n"
        "o1,Amount,500,2026-01-02 09:00\n"
        "o1,StageName,Open,2026-01-03 09:00\n"
        "o1,Stage,Won,2026-01-05 09:00\n"
        "o2,Stage,Won,2026-01-04 09:00\n",
    )
    workspace.import_files([history], mapping=m)
    events = workspace.table("stage_events").sort_values(["record_id", "entered_at"])
    assert events[["record_id", "stage"]].values.tolist() == [
        ["o1", "opportunity"],
        ["o1", "won"],
        ["o2", "won"],
    ]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"from": "d", "format": ["%Y-%m-%d %z"]}, "cannot read UTC offsets"),
        ({"from": "a", "decimal": ";"}, "the decimal mark is '.' or ','"),
        ({"from": "s", "others": "x"}, "'others' needs a value map"),
        ({"value": "x", "optional": True}, "'optional' needs a source column"),
        ({"from": []}, "give at least one column"),
    ],
)
def test_column_spec_mistakes_are_rejected(spec: dict[str, object], message: str) -> None:
    """Combinations that could not work are refused when the mapping is read."""
    with pytest.raises(ValueError, match=message):
        ColumnSpec.model_validate(spec)
