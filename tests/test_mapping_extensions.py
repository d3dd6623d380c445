"""Mapping extensions: a stage read from a column, and rows skipped where a value is blank."""

from __future__ import annotations

from pathlib import Path

import pytest

from missionline.errors import DataValidationError, PlanError
from missionline.workspace import Workspace

from conftest import write

# A CRM export: open deals have no close date, prospects have no date at all.
DEALS = """
    id,deal_stage,engaged,closed,value
    d1,Won,2024-01-02,2024-02-01,100
    d2,Lost,2024-01-03,2024-02-15,0
    d3,Engaging,2024-01-04,,
    d4,Prospecting,,,
"""


def mapping(tmp_path: Path, opportunities: str, events: str = "") -> Path:
    """A mapping for deals*.csv with the given opportunities columns and stage events (YAML)."""
    return write(
        tmp_path / "mapping.yaml",
        f"""
        files:
          - match: deals*.csv
            tables:
              opportunities:
{_indent(opportunities, 16)}
            stage_events:
{_indent(events, 14) if events else "              []"}
        """,
    )


def _indent(text: str, spaces: int) -> str:
    """Indent YAML lines so they nest under their key in :func:`mapping`'s template."""
    lines = [line.strip("\n") for line in text.strip("\n").splitlines()]
    margin = min(len(line) - len(line.lstrip()) for line in lines if line.strip())
    return "\n".join(" " * spaces + line[margin:] for line in lines)


OPPORTUNITIES = """
    opportunity_id: id
    created_at: {from: engaged, skip_blank: true}
    closed_at: closed
    amount: value
    status: {from: deal_stage, values: {Prospecting: open, Engaging: open, Won: won, Lost: lost}}
"""


def problems_of(ws: Workspace, files: list[Path], mapping_file: Path) -> list[str]:
    """Import expecting a validation failure; return the problems as strings."""
    with pytest.raises(DataValidationError) as caught:
        ws.import_files(files, mapping=mapping_file)
    return [str(p) for p in caught.value.problems]


def test_stage_from_a_column_with_a_value_map(workspace: Workspace, tmp_path: Path) -> None:
    """`stage: {from, values}` gives each closed deal a won or lost entry; open deals get none."""
    m = mapping(
        tmp_path,
        OPPORTUNITIES,
        """
        - stage: {from: deal_stage, values: {Won: won, Lost: lost}}
          at: closed
          record_id: id
          record_type: opportunity
        """,
    )
    workspace.import_files([write(tmp_path / "deals.csv", DEALS)], mapping=m)
    events = workspace.table("stage_events").sort_values("record_id")
    assert events[["record_id", "stage"]].values.tolist() == [["d1", "won"], ["d2", "lost"]]


def test_constant_stage_is_unchanged(workspace: Workspace, tmp_path: Path) -> None:
    """A plain stage id still names the stage of every dated row, as before the extension."""
    m = mapping(
        tmp_path,
        OPPORTUNITIES,
        """
        - stage: opportunity
          at: engaged
          record_id: id
          record_type: opportunity
        """,
    )
    workspace.import_files([write(tmp_path / "deals.csv", DEALS)], mapping=m)
    events = workspace.table("stage_events").sort_values("record_id")
    assert events["record_id"].tolist() == ["d1", "d2", "d3"]
    assert set(events["stage"]) == {"opportunity"}


def test_stage_mapped_to_null_leaves_the_row_out(workspace: Workspace, tmp_path: Path) -> None:
    """A stage value mapped to null (or blank) derives no entry, like a blank date."""
    m = mapping(
        tmp_path,
        OPPORTUNITIES,
        """
        - stage: {from: deal_stage, values: {Won: won, Lost: null, Engaging: null}}
          at: engaged
          record_id: id
          record_type: opportunity
        """,
    )
    workspace.import_files([write(tmp_path / "deals.csv", DEALS)], mapping=m)
    assert workspace.table("stage_events")["record_id"].tolist() == ["d1"]


def test_unmapped_stage_value_is_an_unknown_stage(workspace: Workspace, tmp_path: Path) -> None:
    """A column value that is not a plan stage fails the import at its row, as any stage would."""
    m = mapping(
        tmp_path,
        OPPORTUNITIES,
        """
        - stage: {from: deal_stage, values: {Won: won}}
          at: closed
          record_id: id
          record_type: opportunity
        """,
    )
    deals = write(tmp_path / "deals.csv", DEALS)
    (problem,) = problems_of(workspace, [deals], m)
    assert problem.startswith(f"{deals}:3:stage: stage: unknown stage 'Lost'")
    assert workspace.table("opportunities").empty


def test_skip_blank_leaves_rows_out_of_the_table(workspace: Workspace, tmp_path: Path) -> None:
    """`skip_blank` drops the undated prospect instead of failing the required created_at."""
    m = mapping(tmp_path, OPPORTUNITIES)
    (load,) = workspace.import_files([write(tmp_path / "deals.csv", DEALS)], mapping=m).tables
    assert (load.table, load.rows) == ("opportunities", 3)
    opps = workspace.table("opportunities").sort_values("opportunity_id")
    assert opps["opportunity_id"].tolist() == ["d1", "d2", "d3"]
    assert opps["status"].tolist() == ["won", "lost", "open"]


def test_without_skip_blank_a_blank_required_value_fails(
    workspace: Workspace, tmp_path: Path
) -> None:
    """Without `skip_blank`, the blank required value is still an error naming its row."""
    m = mapping(tmp_path, OPPORTUNITIES.replace(", skip_blank: true", ""))
    deals = write(tmp_path / "deals.csv", DEALS)
    assert problems_of(workspace, [deals], m) == [
        f"{deals}:5:created_at: created_at: required value is missing"
    ]


def test_skip_blank_applies_after_the_value_map(workspace: Workspace, tmp_path: Path) -> None:
    """A value mapped to null with `skip_blank` filters rows by value (here: open deals)."""
    m = mapping(
        tmp_path,
        """
        opportunity_id: id
        created_at: {from: engaged, skip_blank: true}
        status: {from: deal_stage, values: {Engaging: null, Won: won, Lost: lost}, skip_blank: true}
        """,
    )
    workspace.import_files([write(tmp_path / "deals.csv", DEALS)], mapping=m)
    assert sorted(workspace.table("opportunities")["opportunity_id"]) == ["d1", "d2"]


def test_skip_blank_on_a_stage_event_column(workspace: Workspace, tmp_path: Path) -> None:
    """`skip_blank` works in stage events too: entries without the value are left out."""
    m = mapping(
        tmp_path,
        OPPORTUNITIES,
        """
        - stage: opportunity
          at: engaged
          record_id: id
          record_type: opportunity
          reason: {from: value, skip_blank: true}
        """,
    )
    workspace.import_files([write(tmp_path / "deals.csv", DEALS)], mapping=m)
    assert sorted(workspace.table("stage_events")["record_id"]) == ["d1", "d2"]


@pytest.mark.parametrize(
    "spec",
    [
        "{from: engaged, default: '2024-01-01', skip_blank: true}",
        "{value: '2024-01-01', skip_blank: true}",
    ],
)
def test_skip_blank_needs_a_column_without_default(
    workspace: Workspace, tmp_path: Path, spec: str
) -> None:
    """`skip_blank` with a default or a constant would never skip: the mapping is rejected."""
    m = mapping(tmp_path, f"opportunity_id: id\ncreated_at: {spec}")
    with pytest.raises(PlanError) as caught:
        workspace.import_files([write(tmp_path / "deals.csv", DEALS)], mapping=m)
    (problem,) = caught.value.problems
    assert "'skip_blank' needs a source column ('from') and no 'default'" in str(problem)
    assert str(problem).startswith(f"{m}:")


def test_file_entry_without_tables_reads_nothing(workspace: Workspace, tmp_path: Path) -> None:
    """An entry with only `match` lets a folder be imported whole, ignoring that file."""
    m = write(
        tmp_path / "mapping.yaml",
        """
        files:
          - match: deals*.csv
            tables:
              opportunities:
                opportunity_id: id
                created_at: {from: engaged, skip_blank: true}
                status: {value: open}
          - match: notes.csv
        """,
    )
    folder = tmp_path / "export"
    write(folder / "deals.csv", DEALS)
    write(folder / "notes.csv", "anything,at,all\n1,2,3\n")
    report = workspace.import_files([folder], mapping=m)
    assert [(load.table, load.rows) for load in report.tables] == [("opportunities", 3)]
