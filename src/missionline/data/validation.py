"""Checks on staged rows before anything is written: each returns located problems.

Errors block the whole import; warnings are reported and the load goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from missionline.data.schema import Table
from missionline.data.sql import ident, idents, lit
from missionline.data.staging import StagedOutput
from missionline.errors import Problem
from missionline.plan.models import Plan

SAMPLE = 20  # rows listed per check; the rest are counted

Query = Callable[[str], list[tuple[Any, ...]]]


@dataclass
class Findings:
    """Errors and warnings collected by the checks."""

    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    unique: set[str] = field(default_factory=set)  # tables whose staged keys are all distinct


def union_view(table: str) -> str:
    """Name of the temp view holding every staged row of ``table``."""
    return f"staged_{table}"


def union_sql(table: str, outputs: Sequence[StagedOutput]) -> str:
    """SQL for a view of every staged row of one table, with the file each came from."""
    parts = [f"SELECT {lit(str(o.file))} AS _file, * FROM {ident(o.staged)}" for o in outputs]
    body = " UNION ALL BY NAME ".join(parts)
    return f"CREATE OR REPLACE TEMP VIEW {ident(union_view(table))} AS {body}"


def _rows(query: Query, sql: str, message: str, column: str) -> Iterator[Problem]:
    """Yield a problem per sampled row of ``sql`` (selecting _file, _row, values...) and a count.

    ``message`` is a format string; ``{0}``, ``{1}``... are the values after _file and _row.
    """
    rows = query(f"SELECT * FROM ({sql}) LIMIT {SAMPLE + 1}")
    for row in rows[:SAMPLE]:
        yield Problem(message.format(*row[2:]), str(row[0]), int(row[1]), column)
    if len(rows) > SAMPLE:
        (total,) = query(f"SELECT COUNT(*) FROM ({sql})")[0]
        yield Problem(f"{total - SAMPLE} more rows with this problem in column {column}")


def parse_failures(query: Query, output: StagedOutput, table: Table) -> Iterator[Problem]:
    """Cells whose text does not parse as the column's type."""
    for name in output.typed:
        column = table.column(name)
        source = output.sources.get(name, name)
        sql = (
            f"SELECT {lit(str(output.file))}, s._row, CAST(v.{ident(source)} AS VARCHAR) "
            f"FROM {ident(output.staged)} s JOIN {ident(output.source_view)} v ON s._row = v._row "
            f"WHERE s.{ident('!' + name)} ORDER BY s._row"
        )
        expected = {
            "timestamp": "a timestamp",
            "date": "a date",
            "int": "a whole number",
            "float": "a number",
            "bool": "true or false",
        }[column.type]
        yield from _rows(query, sql, f"{name}: expected {expected}, found {{0!r}}", source)


def _flag_is_false(name: str, output_flags: set[str]) -> str:
    return f"NOT COALESCE({ident('!' + name)}, false)" if name in output_flags else "true"


def row_checks(query: Query, table: Table, flags: set[str], plan: Plan) -> Iterator[Problem]:
    """Required values, allowed values, non-negative amounts and known stages."""
    view = ident(union_view(table.name))
    for column in table.all_columns:
        col = ident(column.name)
        if column.required:
            sql = (
                f"SELECT _file, _row FROM {view} WHERE {col} IS NULL "
                f"AND {_flag_is_false(column.name, flags)} ORDER BY _file, _row"
            )
            yield from _rows(query, sql, f"{column.name}: required value is missing", column.name)
        if column.allowed:
            sql = (
                f"SELECT _file, _row, {col} FROM {view} WHERE {col} IS NOT NULL "
                f"AND {col} NOT IN ({', '.join(lit(a) for a in column.allowed)}) "
                "ORDER BY _file, _row"
            )
            allowed = ", ".join(column.allowed)
            yield from _rows(
                query,
                sql,
                f"{column.name}: expected one of {allowed}, found {{0!r}}",
                column.name,
            )
        if column.non_negative:
            sql = f"SELECT _file, _row, {col} FROM {view} WHERE {col} < 0 ORDER BY _file, _row"
            yield from _rows(
                query,
                sql,
                f"{column.name}: expected a non-negative value, found {{0}}",
                column.name,
            )
        if column.bounds is not None:
            low, high = column.bounds
            sql = (
                f"SELECT _file, _row, {col} FROM {view} WHERE {col} < {low} OR {col} > {high} "
                "ORDER BY _file, _row"
            )
            message = f"{column.name}: expected a value from {low:g} to {high:g}, found {{0}}"
            yield from _rows(query, sql, message, column.name)
    if table.name == "stage_events":
        yield from _stage_checks(query, view, plan)


def _stage_checks(query: Query, view: str, plan: Plan) -> Iterator[Problem]:
    stages = plan.lifecycle.stages
    known = ", ".join(lit(s.id) for s in stages)
    names = ", ".join(s.id for s in stages)
    sql = (
        f"SELECT _file, _row, stage FROM {view} WHERE stage IS NOT NULL "
        f"AND stage NOT IN ({known}) ORDER BY _file, _row"
    )
    yield from _rows(
        query, sql, f"stage: unknown stage {{0!r}} (the plan's stages: {names})", "stage"
    )
    pairs = " OR ".join(
        f"(stage = {lit(s.id)} AND record_type <> {lit(s.record_type)})" for s in stages
    )
    expected = " ".join(f"WHEN {lit(s.id)} THEN {lit(s.record_type)}" for s in stages)
    sql = (
        f"SELECT _file, _row, stage, record_type, CASE stage {expected} END FROM {view} "
        f"WHERE {pairs} ORDER BY _file, _row"
    )
    yield from _rows(
        query,
        sql,
        "record_type: stage {0!r} holds {2} records in the plan, found {1!r}",
        "record_type",
    )


def key_checks(query: Query, table: Table) -> tuple[list[Problem], list[Problem], bool]:
    """Rows sharing a key with different values (errors) and exact duplicate rows (warnings).

    Returns the errors, the warnings, and whether every key is unique (then the staged rows
    can be written as they are, without a DISTINCT pass).
    """
    view = ident(union_view(table.name))
    keys = idents(table.key)
    repeated = f"SELECT {keys} FROM {view} GROUP BY ALL HAVING COUNT(*) > 1"
    if not query(f"SELECT COUNT(*) FROM ({repeated})")[0][0]:
        return [], [], True
    distinct = f"SELECT DISTINCT {idents(table.names())} FROM {view}"
    conflict = f"SELECT {keys} FROM ({distinct}) GROUP BY ALL HAVING COUNT(*) > 1"
    join = " AND ".join(f"v.{ident(k)} IS NOT DISTINCT FROM c.{ident(k)}" for k in table.key)
    sql = (
        f"SELECT v._file, v._row, {', '.join('v.' + ident(k) for k in table.key)} FROM {view} v "
        f"JOIN ({conflict}) c ON {join} ORDER BY v._file, v._row"
    )
    key_text = ", ".join(table.key)
    keys_format = ", ".join(f"{{{i}!r}}" for i in range(len(table.key)))
    message = f"{key_text}: key ({keys_format}) appears more than once with different values"
    errors = list(_rows(query, sql, message, table.key[0]))
    total = query(f"SELECT (SELECT COUNT(*) FROM {view}) - (SELECT COUNT(*) FROM ({distinct}))")
    warnings = []
    if dupes := total[0][0]:
        rows = "1 exact duplicate row was" if dupes == 1 else f"{dupes} exact duplicate rows were"
        warnings.append(Problem(f"{table.name}: {rows} loaded once"))
    return errors, warnings, False


def reference_checks(
    query: Query, table: Table, staged_tables: set[str], existing: set[str]
) -> Iterator[Problem]:
    """Foreign keys: each value must exist in the referenced table (stored or being imported)."""
    view = ident(union_view(table.name))
    for fk in table.foreign_keys:
        sources = []
        if fk.table in existing:
            sources.append(f"SELECT {ident(fk.target)} AS k FROM {ident(fk.table)}")
        if fk.table in staged_tables:
            sources.append(f"SELECT {ident(fk.target)} AS k FROM {ident(union_view(fk.table))}")
        if not sources:
            continue
        refs = " UNION ALL ".join(sources)
        (count,) = query(f"SELECT COUNT(*) FROM ({refs})")[0]
        if not count:
            continue  # the referenced table is empty: nothing to check against yet
        when = f"AND v.{ident(fk.when[0])} = {lit(fk.when[1])}" if fk.when else ""
        sql = (
            f"SELECT v._file, v._row, v.{ident(fk.column)} FROM {view} v "
            f"WHERE v.{ident(fk.column)} IS NOT NULL {when} "
            f"AND v.{ident(fk.column)} NOT IN (SELECT k FROM ({refs}) WHERE k IS NOT NULL) "
            "ORDER BY v._file, v._row"
        )
        yield from _rows(
            query,
            sql,
            f"{fk.column}: {{0!r}} is not a known {fk.table}.{fk.target}",
            fk.column,
        )


def event_before_creation(
    query: Query, tables: dict[str, Table], staged_tables: set[str], existing: set[str]
) -> Iterator[Problem]:
    """Warn about stage entries earlier than their record's creation."""
    view = ident(union_view("stage_events"))
    for fk in tables["stage_events"].foreign_keys:
        if fk.when is None:
            continue
        sources = []
        for name, present in (
            (fk.table, fk.table in existing),
            (union_view(fk.table), fk.table in staged_tables),
        ):
            if present:
                sources.append(f"SELECT {ident(fk.target)} AS k, created_at FROM {ident(name)}")
        if not sources:
            continue
        refs = " UNION ALL ".join(sources)
        sql = (
            f"SELECT DISTINCT v._file, v._row, v.record_id, v.stage FROM {view} v "
            f"JOIN ({refs}) r ON v.record_id = r.k WHERE v.record_type = {lit(fk.when[1])} "
            "AND v.entered_at < r.created_at ORDER BY v._file, v._row"
        )
        yield from _rows(
            query,
            sql,
            "entered_at: the {1!r} entry of {0!r} is earlier than the record's created_at",
            "entered_at",
        )
