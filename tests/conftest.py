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


@pytest.fixture
def shared_data() -> Path:
    """The ../shared/data folder (skipped when absent outside CI)."""
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
