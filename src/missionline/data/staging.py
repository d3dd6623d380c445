"""Stage a source file: read it with DuckDB's own readers and cast it into typed temp tables.

Nothing here writes to the canonical tables. Each staged table keeps ``_row`` (the line in the
file, the header being line 1) and one ``!column`` flag per typed column whose value did not
parse, so that validation can name the row, the column and the value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from missionline.data.mapping import ColumnSpec, FileSpec, StageEventSpec
from missionline.data.schema import Column, Table
from missionline.data.sql import ident, lit
from missionline.errors import DataValidationError, Problem

CSV_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".tsv.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")
DATA_SUFFIXES = CSV_SUFFIXES + PARQUET_SUFFIXES
UTC_OFFSET = r"(Z|[+-]\d\d:?\d\d)$"  # a timestamp that carries its own offset

SQL_TYPES = {
    "string": "VARCHAR",
    "float": "DOUBLE",
    "int": "BIGINT",
    "bool": "BOOLEAN",
    "timestamp": "TIMESTAMP",
    "date": "DATE",
}


@dataclass
class StagedOutput:
    """One canonical table's rows produced from one source file."""

    table: str
    file: Path
    source_view: str
    staged: str
    # canonical column -> source column, for reporting the found value of a bad cell
    sources: dict[str, str] = field(default_factory=dict)
    typed: list[str] = field(default_factory=list)
    select_sql: str = ""


def file_kind(path: Path) -> str:
    """Return 'csv' or 'parquet' from the file name, or fail naming the file."""
    name = path.name.lower()
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    raise DataValidationError(
        f"{path}: unsupported file type (expected one of {', '.join(DATA_SUFFIXES)})"
    )


def source_view_sql(view: str, path: Path, delimiter: str | None = None) -> str:
    """SQL creating a temp view over the file, numbering rows as lines of the file."""
    if file_kind(path) == "csv":
        # An explicit delimiter: DuckDB's sniffer would otherwise read a malformed file as one
        # wide column instead of failing.
        default = "\t" if ".tsv" in path.name.lower() else ","
        delim = lit(delimiter or default)
        options = f"header = true, all_varchar = true, strict_mode = true, delim = {delim}"
        reader = f"read_csv({lit(str(path))}, {options})"
        first_row = 1  # row 1 is the header line
    else:
        reader = f"read_parquet({lit(str(path))})"
        first_row = 0
    return (
        f"CREATE OR REPLACE TEMP VIEW {ident(view)} AS "
        f"SELECT row_number() OVER () + {first_row} AS _row, * FROM {reader}"
    )


def table_for_file(path: Path, tables: dict[str, Table]) -> Table:
    """Match a file named after a canonical table: ``people.csv``, ``stage_events-2024.parquet``."""
    stem = path.name.lower()
    for suffix in DATA_SUFFIXES:
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    for name in sorted(tables, key=len, reverse=True):
        if re.fullmatch(rf"{name}([-.][\w.-]*)?", stem):
            return tables[name]
    raise DataValidationError(
        f"{path}: the file name does not name a canonical table; name it after one of "
        f"{', '.join(tables)} (e.g. people.csv) or pass --mapping"
    )


def _cleaned(spec: ColumnSpec) -> str:
    """SQL for the source value as trimmed text, value-mapped and defaulted."""
    if spec.value is not None:
        return f"CAST({lit(spec.value)} AS VARCHAR)"
    assert spec.from_ is not None
    text = f"NULLIF(TRIM(CAST({ident(spec.from_)} AS VARCHAR)), '')"
    if spec.values:
        whens = " ".join(f"WHEN {lit(k)} THEN {lit(v)}" for k, v in spec.values.items())
        text = f"(CASE {text} {whens} ELSE {text} END)"
    if spec.default is not None:
        text = f"COALESCE({text}, {lit(str(spec.default))})"
    return text


def _typed(text: str, column: Column, spec: ColumnSpec, file_tz: str | None) -> str:
    """SQL converting cleaned text into the column's type; NULL where it does not parse."""
    kind = column.type
    if kind in ("timestamp", "date"):
        tz = spec.timezone or file_tz
        if spec.format:
            value = f"try_strptime({text}, {lit(spec.format)})"
            if "%z" in spec.format or "%Z" in spec.format:
                value = f"timezone('UTC', {value})"  # an explicit offset wins over a zone
            elif tz:
                value = f"timezone('UTC', timezone({lit(tz)}, {value}))"
        else:
            naive = f"TRY_CAST({text} AS TIMESTAMP)"
            if tz:
                naive = f"timezone('UTC', timezone({lit(tz)}, {naive}))"
            # text with its own offset (Z, +02:00) is converted to UTC whatever the file's zone
            aware = f"timezone('UTC', TRY_CAST({text} AS TIMESTAMPTZ))"
            has_offset = f"regexp_matches({text}, {lit(UTC_OFFSET)})"
            value = f"(CASE WHEN {has_offset} THEN {aware} ELSE {naive} END)"
        return f"CAST({value} AS {SQL_TYPES[kind]})"
    if kind == "string":
        return text
    if kind == "int":
        # TRY_CAST would round 12.5 to 13; a whole number must be written as one
        number = f"TRY_CAST({text} AS DOUBLE)"
        return f"(CASE WHEN {number} = floor({number}) THEN CAST({number} AS BIGINT) END)"
    return f"TRY_CAST({text} AS {SQL_TYPES[kind]})"


def _select(
    table: Table, specs: dict[str, ColumnSpec], file_tz: str | None
) -> tuple[str, list[str]]:
    """SQL selecting typed canonical columns plus a parse-failure flag per typed column."""
    parts = ["_row"]
    flagged = []
    for column in table.all_columns:
        spec = specs.get(column.name)
        if spec is None:
            parts.append(f"CAST(NULL AS {SQL_TYPES[column.type]}) AS {ident(column.name)}")
            continue
        text = _cleaned(spec)
        typed = _typed(text, column, spec, file_tz)
        parts.append(f"{typed} AS {ident(column.name)}")
        if column.type != "string":
            parts.append(f"({text} IS NOT NULL AND {typed} IS NULL) AS {ident('!' + column.name)}")
            flagged.append(column.name)
    return ", ".join(parts), flagged


def _event_specs(event: StageEventSpec) -> dict[str, ColumnSpec]:
    stage = event.stage if isinstance(event.stage, ColumnSpec) else ColumnSpec(value=event.stage)
    specs = {
        "record_id": event.record_id,
        "record_type": ColumnSpec(value=event.record_type),
        "stage": stage,
        "entered_at": event.at,
    }
    if event.owner_id is not None:
        specs["owner_id"] = event.owner_id
    if event.reason is not None:
        specs["reason"] = event.reason
    return specs


def _kept(specs: dict[str, ColumnSpec]) -> str | None:
    """SQL condition keeping the rows where every ``skip_blank`` column has a value, or None."""
    conditions = [f"{_cleaned(s)} IS NOT NULL" for s in specs.values() if s.skip_blank]
    return " AND ".join(conditions) or None


def plan_outputs(
    path: Path,
    columns: list[str],
    spec: FileSpec | None,
    tables: dict[str, Table],
    view: str,
    prefix: str,
) -> list[StagedOutput]:
    """Decide what tables a file feeds and build the typed SELECT for each; check columns exist."""
    problems: list[Problem] = []
    present = set(columns) - {"_row"}
    wanted: list[tuple[Table, dict[str, ColumnSpec], str | None]] = []
    if spec is None:
        table = table_for_file(path, tables)
        known = set(table.names())
        for name in sorted(present - known):
            problems.append(
                Problem(
                    f"unknown column for {table.name} (expected: {', '.join(table.names())})",
                    str(path),
                    1,
                    name,
                )
            )
        for column in table.all_columns:
            if column.required and column.name not in present:
                problems.append(Problem("required column is missing", str(path), 1, column.name))
        wanted.append((table, {c: ColumnSpec.model_validate(c) for c in present & known}, None))
        file_tz: str | None = None
    else:
        file_tz = spec.timezone
        for table_name, specs in spec.tables.items():
            table = tables[table_name]
            for name in specs:
                if name not in table.names():
                    problems.append(
                        Problem(f"mapping names unknown column '{table_name}.{name}'", str(path))
                    )
            wanted.append((table, specs, _kept(specs)))
        for event in spec.stage_events:
            specs = _event_specs(event)
            # An event exists only where the row has a date and a stage: a blank close date
            # means "not closed yet", a stage mapped to nothing means "no event for this row".
            kept = [f"{_cleaned(event.at)} IS NOT NULL"]
            if isinstance(event.stage, ColumnSpec):
                kept.append(f"{_cleaned(event.stage)} IS NOT NULL")
            if where := _kept(specs):
                kept.append(where)
            wanted.append((tables["stage_events"], specs, " AND ".join(kept)))
        for _, specs, _ in wanted:
            for name, column_spec in specs.items():
                if column_spec.from_ is not None and column_spec.from_ not in present:
                    problems.append(
                        Problem(
                            f"the mapping reads column '{column_spec.from_}' for {name}, "
                            f"but the file has: {', '.join(sorted(present))}",
                            str(path),
                            1,
                            column_spec.from_,
                        )
                    )
    if problems:
        raise DataValidationError(f"{path} does not fit its table", problems)
    outputs = []
    for i, (table, specs, where) in enumerate(wanted):
        select, flagged = _select(table, specs, file_tz)
        staged = f"{prefix}_{i}"
        sql = f"CREATE TEMP TABLE {ident(staged)} AS SELECT {select} FROM {ident(view)}"
        if where:
            sql += f" WHERE {where}"
        sources = {name: s.from_ for name, s in specs.items() if s.from_ is not None}
        outputs.append(StagedOutput(table.name, path, view, staged, sources, flagged, sql))
    return outputs
