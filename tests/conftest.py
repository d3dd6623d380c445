"""Shared fixtures: temporary workspaces, fixture files and the shared data folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import missionline
from missionline.workspace import Workspace

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
IN_CI = os.environ.get("CI", "").lower() == "true"


def require(condition: bool, reason: str) -> None:
    """Skip the test when ``condition`` is false, or fail it under CI=true (CI must run it)."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"CI=true and a test dependency is missing: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The ../shared/data folder (skipped when absent outside CI).

    Session-wide, so that module-scoped fixtures (a workspace imported once) can use it too.
    """
    require(SHARED_DATA.is_dir(), f"{SHARED_DATA} is absent (it ships beside the project in CI)")
    return SHARED_DATA


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    """A new workspace with the starter plan."""
    ws = missionline.Workspace.init(tmp_path / "ws")
    yield ws  # type: ignore[misc]
    ws.close()


def write(path: Path, text: str) -> Path:
    """Write dedented CSV/YAML text to ``path`` and return it."""
    import textwrap

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def load_fixture(ws: Workspace, folder: Path) -> None:
    """Write a small company with skips, re-entries, ties, nulls and out-of-order rows."""
    write(
        folder / "accounts.csv",
        """
        account_id,name,market,segment,region,industry,employees,created_at
        a1,Acme,europe,computing,de,pc,500,2023-12-01
        a2,Beta,japan,transportation,jp,automotive,80,2023-12-01
        a3,Gamma,europe,,fr,,20,2023-12-01
    """,
    )
    write(
        folder / "people.csv",
        """
        person_id,account_id,created_at,source_channel,first_initiative_id
        p1,a1,2024-01-01,webinar,
        p2,a1,2024-01-02,events,
        p3,a2,2024-01-03,webinar,
        p4,,2024-01-04,,
        p5,a3,2024-02-01,events,
        p6,a2,2024-02-10,webinar,
    """,
    )
    write(
        folder / "opportunities.csv",
        """
        opportunity_id,account_id,person_id,created_at,closed_at,amount,currency,status,kind,owner_id,loss_reason
        o1,a1,p1,2024-01-20,2024-03-01,1000,USD,won,new,,
        o2,a2,p3,2024-02-01,,500,USD,open,new,,
        o3,a2,p6,2024-03-01,2024-04-01,700,USD,lost,new,,price
    """,
    )
    # p1: full path; p2: mql, recycled, mql again, then sal; p3: skips sal (mql -> sql);
    # p4: no channel and no account; p5: ties (lead and mql at the same instant);
    # p6: rows out of order in the file, enters sql twice.
    write(
        folder / "stage_events.csv",
        """
        record_id,record_type,stage,entered_at,owner_id,reason
        p1,person,lead,2024-01-01 09:00:00,,
        p1,person,mql,2024-01-03 10:30:00,,
        p1,person,sal,2024-01-04 08:00:00,,
        p1,person,sql,2024-01-10 12:00:00,,
        o1,opportunity,opportunity,2024-01-20 00:00:00,,
        o1,opportunity,won,2024-03-01 00:00:00,,
        p2,person,lead,2024-01-02 00:00:00,,
        p2,person,mql,2024-01-05 00:00:00,,
        p2,person,recycled,2024-01-20 00:00:00,,not_ready
        p2,person,mql,2024-02-15 00:00:00,,
        p2,person,sal,2024-02-16 06:00:00,,
        p3,person,lead,2024-01-03 00:00:00,,
        p3,person,mql,2024-01-06 00:00:00,,
        p3,person,sql,2024-01-25 00:00:00,,
        o2,opportunity,opportunity,2024-02-01 00:00:00,,
        p4,person,lead,2024-01-04 00:00:00,,
        p4,person,disqualified,2024-01-05 00:00:00,,student
        p5,person,lead,2024-02-01 00:00:00,,
        p5,person,mql,2024-02-01 00:00:00,,
        p6,person,sql,2024-03-20 00:00:00,,
        p6,person,lead,2024-02-10 00:00:00,,
        o3,opportunity,opportunity,2024-03-01 00:00:00,,
        p6,person,sql,2024-02-25 00:00:00,,
        p6,person,mql,2024-02-12 00:00:00,,
        o3,opportunity,lost,2024-04-01 00:00:00,,price
    """,
    )
    ws.import_files([folder])


def table_rows(ws: Workspace, name: str) -> list[tuple[object, ...]]:
    """A table's rows as sorted tuples, for exact comparisons."""
    frame = ws.table(name)
    frame = frame[ws.schema[name].names()]
    rows = [
        tuple(None if v is None or v != v else v for v in row)
        for row in frame.itertuples(index=False, name=None)
    ]
    return sorted(rows, key=repr)


from backend_fixtures import *  # noqa: E402, F403  (last: it imports from this module)
