"""Bad input is reported as file:row:column with what was expected, and nothing is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from missionline.cli.main import main
from missionline.errors import DataValidationError, PlanError
from missionline.workspace import Workspace

from conftest import write

PEOPLE = """
    person_id,account_id,created_at,source_channel,first_initiative_id
    p1,,2024-01-01,webinar,
    p2,,2024-01-02,events,
"""
EVENTS_HEADER = "record_id,record_type,stage,entered_at,owner_id,reason\n"


def problems_of(ws: Workspace, *files: Path, mapping: Path | None = None) -> list[str]:
    """Import ``files`` expecting failure; return the problems as strings."""
    with pytest.raises(DataValidationError) as caught:
        ws.import_files(list(files), mapping=mapping)
    return [str(p) for p in caught.value.problems]


def test_bad_timestamp_names_file_row_column_and_value(
    workspace: Workspace, tmp_path: Path
) -> None:
    """An unparseable date is reported with its line, column and the text found."""
    f = write(tmp_path / "people.csv", PEOPLE + "    p3,,yesterday,webinar,\n")
    assert problems_of(workspace, f) == [
        f"{f}:4:created_at: created_at: expected a timestamp, found 'yesterday'"
    ]


def test_missing_required_column(workspace: Workspace, tmp_path: Path) -> None:
    """A file without a required column fails before anything is read."""
    f = write(tmp_path / "people.csv", "person_id,source_channel\np1,webinar\n")
    assert problems_of(workspace, f) == [f"{f}:1:created_at: required column is missing"]


def test_unknown_column(workspace: Workspace, tmp_path: Path) -> None:
    """A column that is not canonical is an error naming the expected columns."""
    f = write(tmp_path / "people.csv", "person_id,created_at,colour\np1,2024-01-01,red\n")
    (problem,) = problems_of(workspace, f)
    assert problem.startswith(f"{f}:1:colour: unknown column for people (expected: person_id,")


def test_missing_required_value(workspace: Workspace, tmp_path: Path) -> None:
    """A blank required cell is reported at its row."""
    f = write(tmp_path / "people.csv", PEOPLE + "    ,,2024-01-03,webinar,\n")
    assert problems_of(workspace, f) == [f"{f}:4:person_id: person_id: required value is missing"]


def test_value_not_allowed(workspace: Workspace, tmp_path: Path) -> None:
    """A status outside the allowed set lists the allowed values."""
    f = write(
        tmp_path / "opportunities.csv",
        """
        opportunity_id,created_at,status,amount
        o1,2024-01-01,Open,10
    """,
    )
    assert problems_of(workspace, f) == [
        f"{f}:2:status: status: expected one of open, won, lost, found 'Open'"
    ]


def test_negative_amount_and_bad_number(workspace: Workspace, tmp_path: Path) -> None:
    """Amounts must be non-negative numbers."""
    f = write(
        tmp_path / "opportunities.csv",
        """
        opportunity_id,created_at,status,amount
        o1,2024-01-01,open,-5
        o2,2024-01-01,open,lots
    """,
    )
    assert problems_of(workspace, f) == [
        f"{f}:3:amount: amount: expected a number, found 'lots'",
        f"{f}:2:amount: amount: expected a non-negative value, found -5.0",
    ]


def test_unknown_stage_and_wrong_record_type(workspace: Workspace, tmp_path: Path) -> None:
    """Stage names must be the plan's, with the record type the plan gives them."""
    f = write(
        tmp_path / "stage_events.csv",
        EVENTS_HEADER + "p1,person,MQL,2024-01-01,,\np1,opportunity,mql,2024-01-02,,\n",
    )
    problems = problems_of(workspace, f)
    assert problems[0].startswith(f"{f}:2:stage: stage: unknown stage 'MQL' (the plan's stages: ")
    assert problems[1] == (
        f"{f}:3:record_type: record_type: stage 'mql' holds person records in the plan, "
        "found 'opportunity'"
    )


def test_duplicate_key_with_different_values(workspace: Workspace, tmp_path: Path) -> None:
    """Two rows with one key but different values are both listed."""
    f = write(tmp_path / "people.csv", PEOPLE + "    p1,,2024-02-01,events,\n")
    assert problems_of(workspace, f) == [
        f"{f}:2:person_id: person_id: key ('p1') appears more than once with different values",
        f"{f}:4:person_id: person_id: key ('p1') appears more than once with different values",
    ]


def test_exact_duplicate_rows_warn_and_load_once(workspace: Workspace, tmp_path: Path) -> None:
    """Identical rows are a warning and are loaded once."""
    f = write(tmp_path / "people.csv", PEOPLE + "    p1,,2024-01-01,webinar,\n")
    report = workspace.import_files([f])
    assert [str(w) for w in report.warnings] == ["people: 1 exact duplicate row was loaded once"]
    assert len(workspace.table("people")) == 2


def test_foreign_key_against_stored_and_imported_rows(workspace: Workspace, tmp_path: Path) -> None:
    """A person's account must exist in accounts, stored or in the same import."""
    accounts = write(tmp_path / "accounts.csv", "account_id,name\na1,Acme\n")
    workspace.import_files([accounts])
    f = write(
        tmp_path / "people.csv",
        """
        person_id,account_id,created_at
        p1,a1,2024-01-01
        p2,a9,2024-01-01
    """,
    )
    assert problems_of(workspace, f) == [
        f"{f}:3:account_id: account_id: 'a9' is not a known accounts.account_id"
    ]
    more = write(tmp_path / "more" / "accounts.csv", "account_id,name\na9,Nine\n")
    workspace.import_files([more, f])
    assert sorted(workspace.table("people")["account_id"]) == ["a1", "a9"]


def test_event_before_creation_is_a_warning(workspace: Workspace, tmp_path: Path) -> None:
    """An entry earlier than the record's creation loads, with a located warning."""
    people = write(tmp_path / "people.csv", PEOPLE)
    events = write(tmp_path / "stage_events.csv", EVENTS_HEADER + "p2,person,lead,2023-12-31,,\n")
    report = workspace.import_files([people, events])
    assert [str(w) for w in report.warnings] == [
        f"{events}:2:entered_at: entered_at: the 'lead' entry of 'p2' is earlier than the "
        "record's created_at"
    ]


def test_errors_are_capped_with_a_count(workspace: Workspace, tmp_path: Path) -> None:
    """Many bad rows give twenty located problems and a count of the rest."""
    rows = "".join(f"p{i},,not a date,webinar,\n" for i in range(30))
    f = write(
        tmp_path / "people.csv",
        "person_id,account_id,created_at,source_channel,first_initiative_id\n" + rows,
    )
    problems = problems_of(workspace, f)
    assert len(problems) == 21
    assert problems[-1] == "10 more rows with this problem in column created_at"


def test_nothing_is_written_when_any_file_fails(workspace: Workspace, tmp_path: Path) -> None:
    """One bad file in an import leaves every table as it was."""
    good = write(tmp_path / "a" / "people.csv", PEOPLE)
    workspace.import_files([good])
    before = workspace.table("people")
    accounts = write(tmp_path / "b" / "accounts.csv", "account_id,name\na1,Acme\n")
    bad = write(tmp_path / "b" / "people.csv", PEOPLE + "    p3,,never,webinar,\n")
    problems_of(workspace, accounts, bad)
    assert workspace.table("accounts").empty
    assert workspace.table("people").equals(before)


def test_file_name_must_name_a_table(workspace: Workspace, tmp_path: Path) -> None:
    """Without a mapping, the file name says which table it fills."""
    f = write(tmp_path / "contacts.csv", PEOPLE)
    with pytest.raises(DataValidationError, match="does not name a canonical table"):
        workspace.import_files([f])


def test_unreadable_and_missing_files(workspace: Workspace, tmp_path: Path) -> None:
    """Unsupported types, missing paths and malformed CSV are clear errors."""
    with pytest.raises(DataValidationError, match="unsupported file type"):
        workspace.import_files([write(tmp_path / "people.xlsx", "x")])
    with pytest.raises(DataValidationError, match="no such file or folder"):
        workspace.import_files([tmp_path / "nope.csv"])
    broken = write(
        tmp_path / "people.csv", "person_id,created_at\np1,2024-01-01,x,y\np2,2024-01-01\n"
    )
    with pytest.raises(DataValidationError, match="cannot be read"):
        workspace.import_files([broken])


def test_mapping_with_unknown_key_points_at_its_line(workspace: Workspace, tmp_path: Path) -> None:
    """A typo in a mapping file is reported at its line and column."""
    mapping = write(
        tmp_path / "mapping.yaml",
        """
        files:
          - match: "*.csv"
            tables:
              people:
                person_id: {from: id, fromat: "%Y"}
    """,
    )
    with pytest.raises(PlanError) as caught:
        workspace.import_files([write(tmp_path / "x.csv", "id\n1\n")], mapping=mapping)
    (problem,) = caught.value.problems
    assert str(problem) == (
        f"{mapping}:5:31: files[0].tables.people.person_id.fromat: unknown key 'fromat'"
    )


def test_mapping_reading_a_missing_source_column(workspace: Workspace, tmp_path: Path) -> None:
    """A mapping that reads a column the file lacks names the column and lists the file's."""
    mapping = write(
        tmp_path / "mapping.yaml",
        """
        files:
          - match: "leads*.csv"
            tables:
              people: {person_id: lead_id, created_at: created}
    """,
    )
    f = write(tmp_path / "leads.csv", "id,created\n1,2024-01-01\n")
    (problem,) = problems_of(workspace, f, mapping=mapping)
    assert problem == (
        f"{f}:1:lead_id: the mapping reads column 'lead_id' for person_id, but the file has: "
        "created, id"
    )


def test_cli_reports_errors_without_traceback(
    workspace: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The import command exits 2 and prints the located problems, no traceback."""
    f = write(tmp_path / "people.csv", PEOPLE + "    p3,,yesterday,webinar,\n")
    code = main(["import", "-w", str(workspace.folder), str(f)])
    err = capsys.readouterr().err
    assert code == 2
    assert "import failed: 1 problem; nothing was written" in err
    assert "expected a timestamp, found 'yesterday'" in err
    assert "Traceback" not in err


def test_whole_numbers_and_score_bounds(workspace: Workspace, tmp_path: Path) -> None:
    """A fraction in a whole-number column and a score outside 1-5 are errors, not rounded."""
    f = write(
        tmp_path / "survey_responses.csv",
        """
        response_id,respondent,function,question_id,score
        r1,ann,sales,q01,12.5
        r2,ann,sales,q02,7
        r3,ann,sales,q03,4.0
    """,
    )
    assert problems_of(workspace, f) == [
        f"{f}:2:score: score: expected a whole number, found '12.5'",
        f"{f}:3:score: score: expected a value from 1 to 5, found 7",
    ]


def test_timestamps_with_offsets_are_converted_to_utc(workspace: Workspace, tmp_path: Path) -> None:
    """An explicit UTC offset in the text is honoured; naive times are taken as UTC."""
    f = write(
        tmp_path / "people.csv",
        """
        person_id,created_at
        p1,2025-01-01T10:00:00+02:00
        p2,2025-01-01T10:00:00Z
        p3,2025-01-01 10:00:00
    """,
    )
    workspace.import_files([f])
    times = workspace.table("people").set_index("person_id")["created_at"]
    assert [str(times[p]) for p in ("p1", "p2", "p3")] == [
        "2025-01-01 08:00:00",
        "2025-01-01 10:00:00",
        "2025-01-01 10:00:00",
    ]
