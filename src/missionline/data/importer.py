"""Import CSV and Parquet files into the canonical tables: validate everything, then write once.

A load is atomic (on any failure, or if the process is killed, the previous data stays exactly
as it was) and idempotent (rows are matched by key; identical rows are left alone, changed rows
are updated, new rows inserted; ``replace`` swaps a table's contents). Files are staged and
validated in DuckDB; a writer per engine applies the result (see
:mod:`missionline.data.write_target`; :mod:`missionline.data.write_spark` says what atomic
means on Spark, which has no transactions).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from missionline.data.database import Database
from missionline.data.mapping import Mapping, spec_for
from missionline.data.schema import LOAD_ORDER, Table
from missionline.data.sql import ident, idents
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
from missionline.data.write_duckdb import DuckDBWriter
from missionline.data.write_postgres import PostgresWriter
from missionline.data.write_target import Progress, Runner, StagedTable, TableLoad, Writer
from missionline.errors import DataValidationError, Problem, WorkspaceError
from missionline.plan.models import Plan

__all__ = ["LoadReport", "Progress", "TableLoad", "expand", "import_files"]


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


def writer_for(db: Database) -> Writer:
    """The writer for the workspace's engine."""
    if db.is_duckdb:
        return DuckDBWriter(db)
    if db.name == "postgres":
        return PostgresWriter(db)
    if db.name == "pyspark":
        from missionline.data.write_spark import SparkWriter  # pyspark is an optional extra

        return SparkWriter(db)
    raise WorkspaceError(
        f"imports into a {db.name} database are not supported; use DuckDB, PostgreSQL or "
        "Spark (see docs/backends.md)"
    )


def import_files(
    db: Database,
    plan: Plan,
    tables: dict[str, Table],
    paths: Sequence[Path],
    mapping: Mapping | None = None,
    replace: bool = False,
    progress: Progress | None = None,
) -> LoadReport:
    """Validate ``paths`` against the canonical tables and load them all or nothing."""
    files = expand(paths)
    writer = writer_for(db)
    runner = Runner(writer.scratch, progress)
    outputs: list[StagedOutput] = []
    try:
        outputs = _stage(runner, files, mapping, tables)
        by_table: dict[str, list[StagedOutput]] = {}
        for output in outputs:
            by_table.setdefault(output.table, []).append(output)
        existing = set(tables) - (set(by_table) if replace else set())
        writer.mirror(stored_columns(tables, set(by_table), existing))
        findings = _validate(runner, by_table, tables, plan, existing)
        if findings.errors:
            raise DataValidationError(
                f"import failed: {_count(len(findings.errors), 'problem')}; nothing was written",
                findings.errors,
            )
        staged = _staged_tables(runner, by_table, tables, findings.unique)
        sources = ", ".join(str(f) for f in files)
        loads = writer.write(runner, staged, replace, sources)
        return LoadReport(loads, findings.warnings)
    finally:
        for output in outputs:
            runner.con.execute(f"DROP TABLE IF EXISTS {ident(output.staged)}")
        for i in range(len(files)):
            runner.con.execute(f"DROP VIEW IF EXISTS {ident(f'source_{i}')}")
        writer.close()


def stored_columns(
    tables: dict[str, Table], staged: set[str], existing: set[str]
) -> dict[str, list[str]]:
    """The stored columns validation reads, per table: referenced keys and creation times."""
    columns: dict[str, list[str]] = {}
    for name in staged:
        for fk in tables[name].foreign_keys:
            if fk.table not in existing:
                continue
            wanted = columns.setdefault(fk.table, [])
            extra = ["created_at"] if name == "stage_events" and fk.when else []
            wanted.extend(c for c in [fk.target, *extra] if c not in wanted)
    return columns


def _staged_tables(
    runner: Runner,
    by_table: dict[str, list[StagedOutput]],
    tables: dict[str, Table],
    unique: set[str],
) -> list[StagedTable]:
    """Each staged table in load order, as a relation of distinct rows, with its row count.

    Tables in ``unique`` have no repeated keys among the staged rows, so they are read
    without a DISTINCT pass.
    """
    staged = []
    for name in LOAD_ORDER:
        if name not in by_table:
            continue
        view = ident(union_view(name))
        cols = idents(tables[name].names())
        relation = view if name in unique else f"(SELECT DISTINCT {cols} FROM {view})"
        rows = int(runner.scalar(f"SELECT COUNT(*) FROM {relation}"))
        staged.append(StagedTable(tables[name], relation, rows))
    return staged


def _stage(
    runner: Runner, files: list[Path], mapping: Mapping | None, tables: dict[str, Table]
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
    runner: Runner,
    by_table: dict[str, list[StagedOutput]],
    tables: dict[str, Table],
    plan: Plan,
    existing: set[str],
) -> Findings:
    findings = Findings()
    for name, outputs in by_table.items():
        runner.con.execute(union_sql(name, outputs))
    staged = set(by_table)
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
