"""The server's connections to one workspace: concurrent readers, serialised writers.

DuckDB lets one process hold a database file, with many connections inside it. The server
keeps a small pool of read connections; each computation reads inside one transaction, so
every query of a page sees the same snapshot, and an import committing meanwhile is either
wholly visible or not at all. Imports (one at a time, on their own connection) and writes to
the user store (one at a time, on theirs) never block readers. As no other process can write
the file, the data version and the user store's generation are tracked here, and the version
is read from the database only after an import.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from missionline.data.database import LOADS_TABLE
from missionline.data.sql import ident
from missionline.web.cache import Version
from missionline.web.store import Store, open_store
from missionline.workspace import Workspace
from missionline.workspace_settings import connect


class WorkspacePool:
    """Connections to one workspace folder and database, for the life of the server."""

    def __init__(self, folder: Path, db: str | None = None, readers: int = 8) -> None:
        self.importer = Workspace.open(folder, db)  # creates missing tables, checks the version
        self.folder = folder
        self.plan = self.importer.plan
        self.url = self.importer.db.url
        self._writer = Workspace(folder, self.plan, connect(folder, self.url))
        open_store(self._writer.db)
        self._readers = readers
        self._idle: queue.LifoQueue[Workspace] = queue.LifoQueue()
        self._opened: list[Workspace] = []
        self._open_lock = threading.Lock()
        self.import_lock = threading.Lock()
        self.store_lock = threading.Lock()
        # Only this process writes the file (DuckDB's lock), so both are known here exactly.
        self.version = data_version(self.importer)
        self.store_generation = 0

    def _borrow(self) -> Workspace:
        """An idle read connection, a new one while under the limit, else wait for one."""
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        with self._open_lock:
            if len(self._opened) < self._readers:
                ws = Workspace(self.folder, self.plan, connect(self.folder, self.url))
                self._opened.append(ws)
                return ws
        return self._idle.get()

    @contextmanager
    def snapshot(self) -> Iterator[Workspace]:
        """A read connection inside one transaction: a consistent view for a whole request."""
        ws = self._borrow()
        transaction = ws.db.is_duckdb
        try:
            if transaction:
                ws.db.raw_sql("BEGIN TRANSACTION")
            yield ws
        finally:
            if transaction:
                ws.db.raw_sql("ROLLBACK")  # nothing to keep: reads only
            self._idle.put(ws)

    @contextmanager
    def store(self) -> Iterator[Store]:
        """The user store, for reads (sessions, tokens) outside any page snapshot."""
        ws = self._borrow()
        try:
            yield Store(ws.db)
        finally:
            self._idle.put(ws)

    @contextmanager
    def store_writer(self) -> Iterator[Store]:
        """The user store for changes, one writer at a time."""
        with self.store_lock:
            try:
                yield Store(self._writer.db)
            finally:
                self.store_generation += 1  # after the change is committed

    @contextmanager
    def importing(self) -> Iterator[Workspace]:
        """The import connection, one import at a time; the data version moves after it."""
        with self.import_lock:
            try:
                yield self.importer
            finally:
                self.version = data_version(self.importer)  # after the load committed

    def interrupt(self) -> None:
        """Cancel the queries running on the read connections (DuckDB's; at shutdown)."""
        for ws in list(self._opened):
            if ws.db.is_duckdb:
                ws.db.backend.con.interrupt()

    def close(self) -> None:
        """Close every connection."""
        for ws in [*self._opened, self._writer, self.importer]:
            ws.close()


def data_version(ws: Workspace) -> Version:
    """The number of loads, the time of the latest and the questionnaire answers so far.

    It changes with every import and every questionnaire submitted on the web (which writes
    no load). Asked on every request, so as one constant statement (Ibis would take 20 ms to
    compile it).
    """
    sql = (
        f"SELECT (SELECT count(*) FROM {ident(LOADS_TABLE)}), "
        f"(SELECT max(loaded_at) FROM {ident(LOADS_TABLE)}), "
        f"(SELECT count(*) FROM {ident('survey_responses')})"
    )
    count, last, answers = ws.db.raw_sql(sql).fetchall()[0]
    return int(count), f"{last}/{answers}"
