"""What an import hands to an engine's writer, and what every writer provides.

An import stages and validates the files in DuckDB (see :mod:`missionline.data.importer`);
a *writer* then applies the validated rows to the workspace's engine, all or nothing:
:mod:`.write_duckdb` (one DuckDB transaction), :mod:`.write_postgres` (one PostgreSQL
transaction fed by COPY) and :mod:`.write_spark` (new table versions, swapped in at the end).

For DuckDB the scratch is the workspace's own connection (temp tables are private to it and
validation reads the stored tables directly). Other engines get a scratch in-memory DuckDB
into which the writer *mirrors* only the stored columns that validation reads (keys and
creation times, fetched through Ibis).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import duckdb

from missionline.data.database import Database
from missionline.data.schema import Table

# progress(description, fraction or None): the CLI shows it as a progress bar.
Progress = Callable[[str, float | None], None]


@dataclass(frozen=True)
class TableLoad:
    """What an import did to one table."""

    table: str
    rows: int
    inserted: int
    updated: int
    unchanged: int


@dataclass(frozen=True)
class StagedTable:
    """One table's validated rows in the scratch DuckDB: ``relation`` selects them (each
    distinct row once) in the table's column order; ``rows`` counts them."""

    table: Table
    relation: str
    rows: int


class Runner:
    """Runs statements on the scratch DuckDB connection, reporting the engine's own progress."""

    def __init__(self, con: duckdb.DuckDBPyConnection, progress: Progress | None) -> None:
        self.con = con
        self.progress = progress

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        """Return every row of ``sql``."""
        return self.con.execute(sql).fetchall()

    def scalar(self, sql: str) -> Any:
        """Return the single value of ``sql``."""
        return self.con.execute(sql).fetchall()[0][0]

    def report(self, label: str, done: float | None) -> None:
        """Tell the progress bar, when there is one."""
        if self.progress is not None:
            self.progress(label, done)

    def run(self, sql: str, label: str) -> None:
        """Execute ``sql``; while it runs, poll DuckDB's progress for the bar."""
        if self.progress is None:
            self.con.execute(sql)
            return
        error: list[BaseException] = []

        def work() -> None:
            try:
                self.con.execute(sql)
            except BaseException as exc:  # re-raised in the calling thread
                error.append(exc)

        thread = threading.Thread(target=work, daemon=True)
        thread.start()
        while thread.is_alive():
            done = self.con.query_progress()
            self.progress(label, done / 100 if done is not None and done >= 0 else None)
            thread.join(0.1)
        if error:
            raise error[0]
        self.progress(label, 1.0)


class Writer(Protocol):
    """Applies validated rows to one engine: everything or, on any failure, nothing."""

    scratch: duckdb.DuckDBPyConnection

    def mirror(self, columns: Mapping[str, list[str]]) -> None:
        """Make these stored columns (per table) readable in the scratch under the table name."""

    def write(
        self, runner: Runner, staged: list[StagedTable], replace: bool, sources: str
    ) -> list[TableLoad]:
        """Merge (or with ``replace``, swap in) the staged tables, in load order."""

    def close(self) -> None:
        """Release the scratch and anything the writer created for this load."""


def scratch_duckdb() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB for staging, in UTC like the workspace's own DuckDB."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar_print = false")  # progress goes to the Runner's bar
    return con


def mirror_through_ibis(
    db: Database, scratch: duckdb.DuckDBPyConnection, columns: Mapping[str, list[str]]
) -> None:
    """Copy the named columns of the stored tables into the scratch, one table each."""
    for name, wanted in columns.items():
        rows = db.table(name).select(*wanted).to_pyarrow()
        scratch.register(name, rows)
