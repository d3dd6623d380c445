"""Imports into PostgreSQL and Spark: validated as in DuckDB, idempotent, and all or nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from backends import PostgresServer, new_workspace, open_workspace
from missionline.alignment.survey import instrument, record_response
from missionline.cli.main import main
from missionline.data.database import Database, resolve_percentiles
from missionline.data.schema import LOAD_ORDER
from missionline.data.write_spark import FolderStore, _spark_memory
from missionline.errors import DataValidationError, WorkspaceError
from missionline.workspace import Workspace

from conftest import load_fixture, table_rows, write

PEOPLE = """
    person_id,account_id,created_at,source_channel,first_initiative_id
    p1,,2024-01-01,webinar,
    p2,,2024-01-02,events,
"""
ENGINES = ("postgres", pytest.param("spark", marks=pytest.mark.slow))

NewWorkspace = Callable[[str], Workspace]


@pytest.fixture
def new(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[NewWorkspace]:
    """Make empty starter-plan workspaces on an engine; closed after the test."""
    made: list[Workspace] = []

    def make(engine: str) -> Workspace:
        server = request.getfixturevalue("postgres_server") if engine == "postgres" else None
        if engine == "spark":
            request.getfixturevalue("spark_ready")
        made.append(new_workspace(tmp_path / f"ws{len(made)}", engine, server))
        return made[-1]

    yield make
    for ws in made:
        ws.close()


@pytest.mark.parametrize("engine", ENGINES)
def test_import_reproduces_duckdb_and_reimport_changes_nothing(
    new: NewWorkspace, workspace: Workspace, tmp_path: Path, engine: str
) -> None:
    """The fixture company loads row for row as in DuckDB, and loading it again changes nothing."""
    load_fixture(workspace, tmp_path / "files")
    ws = new(engine)
    ws.import_files([tmp_path / "files"])
    for name in LOAD_ORDER:
        assert table_rows(ws, name) == table_rows(workspace, name), name
    report = ws.import_files([tmp_path / "files"])
    assert all(load.inserted == 0 and load.updated == 0 for load in report.tables)
    assert all(load.unchanged == load.rows for load in report.tables)
    for name in LOAD_ORDER:
        assert table_rows(ws, name) == table_rows(workspace, name), name
    loads = ws.table("missionline_loads")
    assert len(loads) == 2 * len(report.tables)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_export_writes_one_file_per_table_that_imports_back(
    new: NewWorkspace, workspace: Workspace, tmp_path: Path, engine: str, fmt: str
) -> None:
    """An export from the engine is one file per table, and importing it restores the rows."""
    load_fixture(workspace, tmp_path / "files")
    ws = new(engine)
    ws.import_files([tmp_path / "files"])
    written = ws.export(tmp_path / "out", fmt)
    assert all(path.is_file() for path in written)  # not Spark's folders of part files
    again = new("postgres" if engine == "spark" else engine)
    again.import_files(written)
    for name in LOAD_ORDER:
        assert table_rows(again, name) == table_rows(workspace, name), name


@pytest.mark.parametrize("engine", ENGINES)
def test_questionnaire_answers_are_appended_on_the_engine(new: NewWorkspace, engine: str) -> None:
    """A questionnaire response is stored on the engine, next to the answers before it."""
    ws = new(engine)
    statements = [s.id for s in instrument(ws.plan)][:2]
    assert record_response(ws, "r1", "marketing", {statements[0]: 4}) == 1
    assert record_response(ws, "r2", "sales", dict.fromkeys(statements, 2)) == 2
    stored = ws.table("survey_responses").sort_values(["respondent", "question_id"])
    assert stored["respondent"].tolist() == ["r1", "r2", "r2"]
    assert stored["score"].tolist() == [4, 2, 2]


@pytest.mark.parametrize("engine", ENGINES)
def test_cli_opens_the_engine_with_the_workspace_settings(
    new: NewWorkspace, tmp_path: Path, engine: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--db`` reaches the engine from the CLI, with the settings file's percentile choice."""
    ws = new(engine)
    load_fixture(ws, tmp_path / "files")
    url = ws.db.url
    (ws.folder / ".missionline.json").write_text('{"percentiles": "approximate"}')
    ws.close()
    assert main(["velocity", "-w", str(ws.folder), "--db", url, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)
    with Workspace.open(ws.folder, url) as reopened:
        expected = "exact" if engine == "postgres" else "approximate"  # PostgreSQL has no other
        assert reopened.db.percentiles == expected
        assert reopened.velocity().attrs["percentiles"] == expected


@pytest.mark.parametrize("engine", ENGINES)
def test_changed_rows_update_by_key_and_replace_swaps(
    new: NewWorkspace, tmp_path: Path, engine: str
) -> None:
    """A changed row is updated, a new one inserted; replace leaves only the new file's rows."""
    ws = new(engine)
    ws.import_files([write(tmp_path / "a" / "people.csv", PEOPLE)])
    changed = write(
        tmp_path / "b" / "people.csv",
        """
        person_id,account_id,created_at,source_channel,first_initiative_id
        p2,,2024-01-02,partner,
        p3,,2024-01-03,organic,
    """,
    )
    (load,) = ws.import_files([changed]).tables
    assert (load.inserted, load.updated, load.unchanged) == (1, 1, 0)
    channels = dict(ws.table("people")[["person_id", "source_channel"]].values.tolist())
    assert channels == {"p1": "webinar", "p2": "partner", "p3": "organic"}
    only = write(tmp_path / "c" / "people.csv", "person_id,created_at\np9,2024-03-01\n")
    ws.import_files([only], replace=True)
    assert ws.table("people")["person_id"].tolist() == ["p9"]


@pytest.mark.parametrize("engine", ENGINES)
def test_references_are_checked_against_stored_keys(
    new: NewWorkspace, tmp_path: Path, engine: str
) -> None:
    """Stored keys (fetched into the scratch) satisfy references; an unknown one is located."""
    ws = new(engine)
    ws.import_files([write(tmp_path / "a" / "accounts.csv", "account_id,name\na1,Acme\n")])
    people = write(
        tmp_path / "b" / "people.csv",
        "person_id,account_id,created_at\np1,a1,2024-01-01\np2,a9,2024-01-01\n",
    )
    with pytest.raises(DataValidationError) as caught:
        ws.import_files([people])
    assert [str(p) for p in caught.value.problems] == [
        f"{people}:3:account_id: account_id: 'a9' is not a known accounts.account_id"
    ]
    assert ws.table("people").empty
    events = write(
        tmp_path / "c" / "stage_events.csv",
        "record_id,record_type,stage,entered_at\np1,person,lead,2023-12-31\n",
    )
    ws.import_files([write(tmp_path / "d" / "people.csv", "person_id,created_at\np1,2024-01-01\n")])
    report = ws.import_files([events])
    assert [str(w) for w in report.warnings] == [
        f"{events}:2:entered_at: entered_at: the 'lead' entry of 'p1' is earlier than the "
        "record's created_at"
    ]


def test_spark_load_failing_before_the_swap_changes_nothing(
    new: NewWorkspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Spark load that fails after writing some new versions leaves every table as it was."""
    ws = new("spark")
    load_fixture(ws, tmp_path / "files")
    before = {name: table_rows(ws, name) for name in LOAD_ORDER}
    assert isinstance(ws.db.store, FolderStore)
    manifest = (ws.db.store.root / "_current.json").read_text()
    written: list[str] = []
    original = FolderStore.write

    def failing(store: FolderStore, name: str, frame: object) -> str:
        if written:
            raise OSError("disk full")
        written.append(name)
        return original(store, name, frame)  # type: ignore[arg-type]

    monkeypatch.setattr(FolderStore, "write", failing)
    accounts = write(tmp_path / "new" / "accounts.csv", "account_id,name\na7,Seven\n")
    people = write(tmp_path / "new" / "people.csv", "person_id,created_at\np7,2024-05-01\n")
    with pytest.raises(OSError, match="disk full"):
        ws.import_files([accounts, people])
    assert written == ["accounts"]
    assert (ws.db.store.root / "_current.json").read_text() == manifest
    assert {name: table_rows(ws, name) for name in LOAD_ORDER} == before
    folder = ws.folder
    ws.close()
    with open_workspace(folder, "pyspark") as again:  # as another process would read it
        assert {name: table_rows(again, name) for name in LOAD_ORDER} == before


IMPORTER = textwrap.dedent("""
    import sys
    import missionline
    ws = missionline.open(sys.argv[1])
    ws.import_files([sys.argv[2]], progress=lambda label, done: print(label, flush=True))
    print("done", flush=True)
""")


@pytest.mark.slow
def test_killed_postgres_load_leaves_previous_data(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    """A PostgreSQL load killed while copying or merging leaves the tables as they were."""
    url = postgres_server.create_database("killed")
    folder = tmp_path / "ws"
    with Workspace.init(folder, db=url) as ws:
        ws.import_files([write(tmp_path / "old" / "people.csv", PEOPLE)])
        before = table_rows(ws, "people")
    big = tmp_path / "new" / "people.csv"
    big.parent.mkdir()
    with big.open("w") as out:
        out.write("person_id,created_at,source_channel\n")
        out.writelines(f"n{i},2024-01-01 00:00:{i % 60:02d},events\n" for i in range(400_000))
    killed_while_writing = 0
    for delay in (0.0, 0.1, 0.5):
        proc = subprocess.Popen(
            [sys.executable, "-c", IMPORTER, str(folder), str(big)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("writing") or line.startswith("done"):
                break
        if line.startswith("writing"):
            time.sleep(delay)
            os.kill(proc.pid, signal.SIGKILL)
            killed_while_writing += proc.wait() == -signal.SIGKILL
        proc.wait()
        with Workspace.open(folder) as ws:
            after = table_rows(ws, "people")
            if len(after) != len(before):  # committed before the kill: undo and go on
                assert len(after) == len(before) + 400_000
                ws.import_files([tmp_path / "old" / "people.csv"], replace=True)
            else:
                assert after == before
    assert killed_while_writing >= 1


def test_percentile_settings_and_spark_urls(tmp_path: Path) -> None:
    """Each engine's default and fallback percentiles, bad settings, and Spark URL errors."""
    assert resolve_percentiles("duckdb", None) == "exact"
    assert resolve_percentiles("pyspark", None) == "approximate"
    assert resolve_percentiles("duckdb", "approximate") == "approximate"
    assert resolve_percentiles("postgres", "approximate") == "exact"  # it has no approximate
    with pytest.raises(WorkspaceError, match='use "exact" or "approximate"'):
        resolve_percentiles("duckdb", "fast")
    assert _spark_memory("1.5GB") == "1536m"
    assert _spark_memory("8GiB") == "8192m"
    with pytest.raises(WorkspaceError, match="needs a folder for its tables"):
        Database("pyspark")


@pytest.mark.parametrize("engine", ENGINES)
def test_sub_second_timestamps_load_exactly_and_count_whole_seconds(
    new: NewWorkspace, workspace: Workspace, tmp_path: Path, engine: str
) -> None:
    """Microseconds survive the load, and durations count whole seconds as on DuckDB."""
    people = write(tmp_path / "people.csv", "person_id,created_at\np1,2024-01-01\np2,2024-01-01\n")
    events = write(
        tmp_path / "stage_events.csv",
        """
        record_id,record_type,stage,entered_at
        p1,person,lead,2024-01-01 00:00:00.900000
        p1,person,mql,2024-01-02 00:00:00.100000
        p2,person,lead,2024-01-01 00:00:00.250000
        p2,person,mql,2024-01-01 00:00:01.750000
    """,
    )
    workspace.import_files([people, events])
    ws = new(engine)
    ws.import_files([people, events])
    assert table_rows(ws, "stage_events") == table_rows(workspace, "stage_events")
    # whole seconds: p1 waited 86,400 s (not 86,399.2), p2 1 s (not 1.5)
    funnel, expected = ws.funnel().iloc[0], workspace.funnel().iloc[0]
    assert expected["median_days_to_next"] == pytest.approx(86401 / 2 / 86400, rel=1e-12)
    for column in ("median_days_to_next", "p90_days_to_next"):
        assert funnel[column] == pytest.approx(expected[column], rel=1e-12), column
