"""Loads are idempotent, update by key, replace on request, round-trip, and survive a kill."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import datetime
from pathlib import Path

import pytest

from missionline.data.schema import LOAD_ORDER
from missionline.errors import WorkspaceError
from missionline.workspace import Workspace

from conftest import load_fixture, table_rows, write

PEOPLE = """
    person_id,account_id,created_at,source_channel,first_initiative_id
    p1,,2024-01-01,webinar,
    p2,,2024-01-02,events,
"""


def test_reimport_changes_nothing(workspace: Workspace, tmp_path: Path) -> None:
    """Importing the same files twice leaves the data identical and reports no changes."""
    load_fixture(workspace, tmp_path / "files")
    before = {name: table_rows(workspace, name) for name in LOAD_ORDER}
    report = workspace.import_files([tmp_path / "files"])
    assert all(load.inserted == 0 and load.updated == 0 for load in report.tables)
    assert {name: table_rows(workspace, name) for name in LOAD_ORDER} == before


def test_changed_rows_update_by_key(workspace: Workspace, tmp_path: Path) -> None:
    """A row whose key exists is updated in place; new keys are inserted."""
    workspace.import_files([write(tmp_path / "a" / "people.csv", PEOPLE)])
    changed = write(
        tmp_path / "b" / "people.csv",
        """
        person_id,account_id,created_at,source_channel,first_initiative_id
        p2,,2024-01-02,partner,
        p3,,2024-01-03,organic,
    """,
    )
    (load,) = workspace.import_files([changed]).tables
    assert (load.inserted, load.updated, load.unchanged) == (1, 1, 0)
    channels = dict(workspace.table("people")[["person_id", "source_channel"]].values.tolist())
    assert channels == {"p1": "webinar", "p2": "partner", "p3": "organic"}


def test_replace_swaps_table_contents(workspace: Workspace, tmp_path: Path) -> None:
    """With replace, rows absent from the new file are gone."""
    workspace.import_files([write(tmp_path / "a" / "people.csv", PEOPLE)])
    only = write(tmp_path / "b" / "people.csv", "person_id,created_at\np9,2024-03-01\n")
    workspace.import_files([only], replace=True)
    assert workspace.table("people")["person_id"].tolist() == ["p9"]


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_export_then_import_reproduces_the_data(
    workspace: Workspace, tmp_path: Path, fmt: str
) -> None:
    """Exporting every table and importing the folder into a new workspace is exact."""
    load_fixture(workspace, tmp_path / "files")
    workspace.export(tmp_path / "export", fmt)
    with Workspace.init(tmp_path / "copy") as copy:
        copy.import_files([tmp_path / "export"])
        for name in LOAD_ORDER:
            assert table_rows(copy, name) == table_rows(workspace, name), name


def test_mapping_renames_converts_and_derives_stage_events(
    workspace: Workspace, tmp_path: Path
) -> None:
    """A mapping renames columns, maps values, parses local dates and derives stage entries."""
    mapping = write(
        tmp_path / "mapping.yaml",
        """
        files:
          - match: "crm_leads*.csv"
            timezone: Europe/Berlin
            tables:
              people:
                person_id: Lead ID
                created_at: {from: Created, format: "%d.%m.%Y %H:%M"}
                source_channel:
                  from: Source
                  values: {Google Ads: paid_search, Messe: events}
                  default: unknown
            stage_events:
              - stage: mql
                record_id: Lead ID
                at: {from: MQL Date, format: "%d.%m.%Y %H:%M"}
    """,
    )
    leads = write(
        tmp_path / "crm_leads_2024.csv",
        """
        Lead ID,Created,Source,MQL Date
        L1,01.07.2024 10:00,Google Ads,03.07.2024 12:30
        L2,02.07.2024 09:15,Messe,
        L3,02.07.2024 11:00,,
    """,
    )
    workspace.import_files([leads], mapping=mapping)
    people = workspace.table("people").sort_values("person_id")
    assert people["source_channel"].tolist() == ["paid_search", "events", "unknown"]
    # 10:00 in Berlin in summer is 08:00 UTC
    assert people["created_at"].iloc[0] == datetime(2024, 7, 1, 8, 0)
    events = workspace.table("stage_events")
    assert events[["record_id", "stage"]].values.tolist() == [["L1", "mql"]]
    assert events["entered_at"].iloc[0] == datetime(2024, 7, 3, 10, 30)


def test_newer_schema_version_refuses_to_open(workspace: Workspace) -> None:
    """A database written by a newer missionline fails with a clear message."""
    workspace.db.raw_sql("UPDATE missionline_meta SET value = '99' WHERE key = 'schema_version'")
    folder = workspace.folder
    workspace.close()
    with pytest.raises(WorkspaceError, match="schema version 99, newer than"):
        Workspace.open(folder)


def test_declared_fields_become_columns(tmp_path: Path) -> None:
    """A plan's extra field is a column that imports fill and the funnel can group by."""
    plan = write(
        tmp_path / "plan.yaml",
        """
        fields:
          people: {lead_score: float}
        lifecycle:
          stages:
            - {id: lead, name: Lead, next: [mql]}
            - {id: mql, name: MQL}
    """,
    )
    with Workspace.init(tmp_path / "ws", str(plan)) as ws:
        people = write(
            tmp_path / "people.csv", "person_id,created_at,lead_score\np1,2024-01-01,71.5\n"
        )
        ws.import_files([people])
        assert ws.table("people")["lead_score"].tolist() == [71.5]
        events = write(
            tmp_path / "stage_events.csv",
            "record_id,record_type,stage,entered_at\np1,person,lead,2024-01-01\n",
        )
        ws.import_files([events])
        assert ws.funnel(by="lead_score")["lead_score"].tolist() == [71.5, 71.5]


def test_ibis_create_list_and_drop_tables(workspace: Workspace) -> None:
    """The pinned ibis/duckdb/sqlglot versions list, describe, create and drop tables."""
    backend = workspace.db.backend
    assert set(LOAD_ORDER) <= set(backend.list_tables())
    assert "person_id" in backend.get_schema("people")
    backend.create_table("scratch", schema={"a": "int64"})
    assert "scratch" in backend.list_tables()
    backend.drop_table("scratch")
    assert "scratch" not in backend.list_tables()


IMPORTER = textwrap.dedent("""
    import sys
    import missionline
    ws = missionline.open(sys.argv[1])
    ws.import_files([sys.argv[2]], progress=lambda label, done: print(label, flush=True))
    print("done", flush=True)
""")


@pytest.mark.slow
def test_killed_load_leaves_previous_data(workspace: Workspace, tmp_path: Path) -> None:
    """A load killed while writing leaves the tables exactly as before, every time."""
    workspace.import_files([write(tmp_path / "old" / "people.csv", PEOPLE)])
    before = table_rows(workspace, "people")
    folder = workspace.folder
    workspace.close()
    big = tmp_path / "new" / "people.csv"
    big.parent.mkdir()
    with big.open("w") as out:
        out.write("person_id,created_at,source_channel\n")
        out.writelines(f"n{i},2024-01-01 00:00:{i % 60:02d},events\n" for i in range(400_000))
    killed_while_writing = 0
    for delay in (0.0, 0.05, 0.2):
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
        if len(after) != len(before):  # the load committed before the kill: undo and go on
            assert len(after) == len(before) + 400_000
            with Workspace.open(folder) as ws:
                ws.import_files([tmp_path / "old" / "people.csv"], replace=True)
        else:
            assert after == before
    assert killed_while_writing >= 1
