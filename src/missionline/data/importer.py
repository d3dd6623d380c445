"""Import CSV and Parquet files into the canonical tables: validate everything, then write once.

A load is atomic (one transaction: on any failure, or if the process is killed, the previous
data stays exactly as it was) and idempotent (rows are matched by key; identical rows are left
alone, changed rows are updated, new rows inserted; ``replace`` swaps a table's contents).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from missionline.data.database import LOADS_TABLE, Database
from missionline.data.mapping import Mapping, spec_for
from missionline.data.schema import LOAD_ORDER, Table
from missionline.data.sql import ident, idents, lit
from missionline.data.staging import (
    DATA_SUFFIXES,
    StagedOutput,
    file_kind,
    plan_outputs,
    source_view_sql,
)
from missionline.data.validation import (
    Findings,
    event_before_creation,
    key_checks,
    parse_failures,
    reference_checks,
    row_checks,
    union_sql,
    union_view,
)
from missionline.errors import DataValidationError, Problem, WorkspaceError
from missionline.plan.models import Plan

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
class LoadReport:
    """The outcome of an import: per-table counts and the warnings found."""

    tables: list[TableLoad]
    warnings: list[Problem] = field(default_factory=list)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def expand(paths: Sequence[Path]) -> list[Path]:
    """Replace folders by the data files in them, sorted; fail on paths that do not exist."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
            files.extend(p for p in found if p.name.lower().endswith(DATA_SUFFIXES))
        elif path.is_file():
            files.append(path)
        else:
            raise DataValidationError(f"{path}: no such file or folder")
    if not files:
        raise DataValidationError("no files to import")
    return files


class _Runner:
    """Runs statements on the raw DuckDB connection, reporting the engine's own progress."""

    def __init__(self, con: duckdb.DuckDBPyConnection, progress: Progress | None) -> None:
        self.con = con
        self.progress = progress

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        """Return every row of ``sql``."""
        return self.con.execute(sql).fetchall()

    def scalar(self, sql: str) -> Any:
        """Return the single value of ``sql``."""
        return self.con.execute(sql).fetchall()[0][0]

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


def import_files(
    db: Database,
    plan: Plan,
    tables: dict[str, Table],
    paths: Sequence[Path],
    mapping: Mapping | None = None,
    replace: bool = False,
    progress: Progress | None = None,
) -> LoadReport:
    """Validate ``paths`` against the canonical tables and load them in one transaction."""
    if not db.is_duckdb:
        raise WorkspaceError(
            f"imports into a {db.name} database are not supported yet; "
            "import into DuckDB and export, or see the docs on backends"
        )
    files = expand(paths)
    con = db.backend.con
    runner = _Runner(con, progress)
    outputs = _stage(runner, files, mapping, tables)
    try:
        by_table: dict[str, list[StagedOutput]] = {}
        for output in outputs:
            by_table.setdefault(output.table, []).append(output)
        findings = _validate(runner, by_table, tables, plan, replace)
        if findings.errors:
            raise DataValidationError(
                f"import failed: {_count(len(findings.errors), 'problem')}; nothing was written",
                findings.errors,
            )
        loads = _write(runner, by_table, tables, replace, files, findings.unique)
        return LoadReport(loads, findings.warnings)
    finally:
        for output in outputs:
            con.execute(f"DROP TABLE IF EXISTS {ident(output.staged)}")
        for i in range(len(files)):
            con.execute(f"DROP VIEW IF EXISTS {ident(f'source_{i}')}")


def _stage(
    runner: _Runner, files: list[Path], mapping: Mapping | None, tables: dict[str, Table]
) -> list[StagedOutput]:
    outputs: list[StagedOutput] = []
    for i, path in enumerate(files):
        spec = spec_for(mapping, path) if mapping is not None else None
        view = f"source_{i}"
        file_kind(path)
        try:
            runner.con.execute(source_view_sql(view, path, spec.delimiter if spec else None))
            columns = [row[0] for row in runner.query(f"DESCRIBE {ident(view)}")]
            planned = plan_outputs(path, columns, spec, tables, view, f"stg_{i}")
            for output in planned:
                runner.run(output.select_sql, f"reading {path.name}")
        except duckdb.Error as exc:
            first_line = str(exc).strip().splitlines()[0]
            raise DataValidationError(f"{path}: cannot be read: {first_line}") from None
        outputs.extend(planned)
    return outputs


def _validate(
    runner: _Runner,
    by_table: dict[str, list[StagedOutput]],
    tables: dict[str, Table],
    plan: Plan,
    replace: bool,
) -> Findings:
    findings = Findings()
    for name, outputs in by_table.items():
        runner.con.execute(union_sql(name, outputs))
    staged = set(by_table)
    existing = set(tables) - (staged if replace else set())
    if progress := runner.progress:
        progress("validating", None)
    for name in LOAD_ORDER:
        if name not in by_table:
            continue
        table = tables[name]
        flags: set[str] = set()
        for output in by_table[name]:
            findings.errors += parse_failures(runner.query, output, table)
            flags |= set(output.typed)
        findings.errors += row_checks(runner.query, table, flags, plan)
        errors, warnings, is_unique = key_checks(runner.query, table)
        findings.errors += errors
        findings.warnings += warnings
        if is_unique:
            findings.unique.add(name)
        findings.errors += reference_checks(runner.query, table, staged, existing)
    if "stage_events" in staged:
        findings.warnings += event_before_creation(runner.query, tables, staged, existing)
    return findings


def _write(
    runner: _Runner,
    by_table: dict[str, list[StagedOutput]],
    tables: dict[str, Table],
    replace: bool,
    files: list[Path],
    unique: set[str],
) -> list[TableLoad]:
    """Apply every staged table in one transaction; identical rows are not rewritten.

    Tables in ``unique`` have no repeated keys among the staged rows, so they are written
    without a DISTINCT pass; into an empty table (or with ``replace``) rows go in directly.
    """
    loads = []
    con = runner.con
    sources = ", ".join(str(f) for f in files)
    con.execute("BEGIN TRANSACTION")
    try:
        for name in LOAD_ORDER:
            if name not in by_table:
                continue
            table = tables[name]
            target, cols = ident(name), idents(table.names())
            view = ident(union_view(name))
            staged = view if name in unique else f"(SELECT DISTINCT {cols} FROM {view})"
            rows = runner.scalar(f"SELECT COUNT(*) FROM {staged}")
            empty = not runner.scalar(f"SELECT COUNT(*) FROM (SELECT 1 FROM {target} LIMIT 1)")
            if replace or empty:
                if replace:
                    runner.run(f"DELETE FROM {target}", f"replacing {name}")
                runner.run(
                    f"INSERT INTO {target} ({cols}) SELECT {cols} FROM {staged}", f"writing {name}"
                )
                inserted, updated = rows, 0
            else:
                inserted, updated = _merge(runner, table, staged)
            unchanged = rows - inserted - updated
            loads.append(TableLoad(name, rows, inserted, updated, unchanged))
            con.execute(
                f"INSERT INTO {ident(LOADS_TABLE)} VALUES ({lit(name)}, {lit(sources)}, "
                f"{inserted}, {updated}, {unchanged}, now()::TIMESTAMP)"
            )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        con.execute("DROP TABLE IF EXISTS load_diff")
    return loads


def _merge(runner: _Runner, table: Table, staged: str) -> tuple[int, int]:
    """Upsert by key the staged rows that differ from the stored ones; return (new, updated)."""
    target, cols = ident(table.name), idents(table.names())
    runner.run(
        f"CREATE OR REPLACE TEMP TABLE load_diff AS SELECT {cols} FROM {staged} "
        f"EXCEPT SELECT {cols} FROM {target}",
        f"comparing {table.name}",
    )
    join = " AND ".join(f"t.{ident(k)} IS NOT DISTINCT FROM d.{ident(k)}" for k in table.key)
    updated = runner.scalar(
        f"SELECT COUNT(*) FROM load_diff d WHERE EXISTS (SELECT 1 FROM {target} t WHERE {join})"
    )
    if updated:
        runner.run(
            f"DELETE FROM {target} t WHERE EXISTS (SELECT 1 FROM load_diff d WHERE {join})",
            f"updating {table.name}",
        )
    changed = runner.scalar("SELECT COUNT(*) FROM load_diff")
    runner.run(
        f"INSERT INTO {target} ({cols}) SELECT {cols} FROM load_diff", f"writing {table.name}"
    )
    return changed - updated, updated
