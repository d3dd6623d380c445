"""Where a workspace's data lives and how it is opened: ``--db``, the environment, settings.

A workspace folder may hold ``.missionline.json`` with ``database`` (a URL), ``memory_limit``
(DuckDB's, e.g. ``8GB``) and ``percentiles`` (``exact`` or ``approximate``). ``--db`` and the
environment variables override the file, so one folder can be pointed at another engine.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from missionline.data.database import Database, default_url
from missionline.errors import WorkspaceError

SETTINGS_FILE = ".missionline.json"
DB_ENV = "MISSIONLINE_DB"
MEMORY_ENV = "MISSIONLINE_MEMORY_LIMIT"


def settings(folder: Path) -> dict[str, str]:
    """The workspace's settings file (``.missionline.json``), or no settings."""
    path = folder / SETTINGS_FILE
    if not path.is_file():
        return {}
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        where = f"{path}:{exc.lineno}:{exc.colno}"
        raise WorkspaceError(f"{where}: not valid JSON: {exc.msg}") from None
    if not isinstance(values, dict):
        raise WorkspaceError(f'{path}: expected an object such as {{"database": "..."}}')
    return {str(key): str(value) for key, value in values.items()}


def absolute_duckdb(url: str) -> str:
    """Make a relative DuckDB file URL absolute, so the workspace works from any folder."""
    prefix = "duckdb://"
    if url.startswith(prefix) and url[len(prefix) :] not in ("", ":memory:"):
        return prefix + str(Path(url[len(prefix) :]).resolve())
    return url


def database_url(folder: Path, db: str | None) -> str:
    """The database URL: --db, then $MISSIONLINE_DB, then the workspace settings, then DuckDB."""
    return db or os.environ.get(DB_ENV) or settings(folder).get("database") or default_url(folder)


def connect(folder: Path, db: str | None = None) -> Database:
    """Open the workspace's database with its memory limit and percentile choice."""
    chosen = settings(folder)
    return Database(
        database_url(folder, db),
        memory_limit=os.environ.get(MEMORY_ENV) or chosen.get("memory_limit"),
        folder=folder,
        percentiles=chosen.get("percentiles"),
    )
