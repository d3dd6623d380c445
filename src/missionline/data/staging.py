"""Stage a source file: read it with DuckDB's own readers and cast it into typed temp tables.

Nothing here writes to the canonical tables. Each staged table keeps ``_row`` (the line in the
file, the header being line 1) and one ``!column`` flag per typed column whose value did not
parse, so that validation can name the row, the column and the value.
"""

from __future__ import annotations

import csv
import fnmatch
import gzip
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from missionline.data.mapping import ColumnSpec, FileSpec, Lookup, StageEventSpec
from missionline.data.schema import Table
from missionline.data.sql import ident, lit
from missionline.data.values import CHOICES, Source, choices_sql, cleaned, select_sql, text_of
from missionline.errors import DataValidationError, Problem

CSV_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".tsv.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")
DATA_SUFFIXES = CSV_SUFFIXES + PARQUET_SUFFIXES
QUOTE, NEWLINE = ord('"'), ord("\n")
CHUNK_BYTES = 1 << 24


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


@dataclass
class _Wanted:
    """One output of a file: the table, its column specs, a row filter, snapshot handling."""

    table: Table
    specs: dict[str, ColumnSpec]
    where: str | None = None
    changes_only: bool = False


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


def _reader(paths: list[Path], delimiter: str | None) -> str:
    """SQL reading data files (all of one kind), CSV values as text."""
    files = lit([str(p) for p in paths])
    if file_kind(paths[0]) == "parquet":
        return f"read_parquet({files})"
    # An explicit delimiter: DuckDB's sniffer would otherwise read a malformed file as one
    # wide column instead of failing.
    delim = lit(delimiter or ("\t" if ".tsv" in paths[0].name.lower() else ","))
    return (
        f"read_csv({files}, header = true, all_varchar = true, strict_mode = true, delim = {delim})"
    )


def _spans_lines(path: Path) -> bool:
    """Whether a value of a CSV file holds a line break: a newline after an odd number of quotes.

    Read in chunks with NumPy (a few tenths of a second per 100 MB), so that the common files
    without multi-line values keep the cheap row numbering.
    """
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    inside = False  # whether the previous chunk ended inside quotes
    try:
        with opener(path, "rb") as handle:
            while chunk := handle.read(CHUNK_BYTES):
                if not inside and b'"' not in chunk:
                    continue
                data = np.frombuffer(chunk, dtype=np.uint8)
                # the parity of the quotes so far (a byte's sum wraps at 256, parity survives)
                quoted = (np.cumsum(data == QUOTE, dtype=np.uint8) & 1).astype(bool) ^ inside
                if quoted[data == NEWLINE].any():
                    return True
                inside = bool(quoted[-1])
    except OSError:
        return False  # DuckDB's reader reports the file that cannot be read
    return False


def source_view_sql(view: str, path: Path, delimiter: str | None = None) -> str:
    """SQL creating a temp view over the file, numbering rows as lines of the file."""
    reader = _reader([path], delimiter)
    if file_kind(path) == "parquet" or not _spans_lines(path):
        first_row = 0 if file_kind(path) == "parquet" else 1  # row 1 of a CSV is its header
        body = f"SELECT row_number() OVER () + {first_row} AS _row, * FROM {reader}"
    else:
        # Row k is on line k + 1 (the header is line 1), plus the line breaks inside quoted
        # values of the rows before it: a multi-line note must not shift the rows after it.
        text = "concat(*COLUMNS(*))"
        breaks = f"len({text}) - len(replace({text}, chr(10), ''))"
        before = (
            "coalesce(sum(_line_breaks) OVER (ORDER BY _line_n "
            "ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)"
        )
        numbered = (
            f"SELECT row_number() OVER () AS _line_n, {breaks} AS _line_breaks, * FROM {reader}"
        )
        body = (
            f"SELECT _line_n + 1 + {before} AS _row, * EXCLUDE (_line_n, _line_breaks) "
            f"FROM ({numbered})"
        )
    return f"CREATE OR REPLACE TEMP VIEW {ident(view)} AS {body}"


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


def lookup_files(lookup: Lookup, path: Path) -> list[Path]:
    """The files beside ``path`` that a lookup reads (its pattern, matched on names)."""
    found = (p for p in path.parent.iterdir() if p.is_file() and not p.name.startswith("."))
    return sorted(p for p in found if any(fnmatch.fnmatch(p.name, f) for f in lookup.patterns))


def _header(path: Path, delimiter: str | None) -> list[str]:
    """The column names of a data file, read without loading it."""
    if file_kind(path) == "parquet":
        return list(pq.read_schema(path).names)
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    default = "\t" if ".tsv" in path.name.lower() else ","
    with opener(path, "rt", encoding="utf-8-sig", newline="") as handle:
        return next(csv.reader(handle, delimiter=delimiter or default), [])


def _column_specs(spec: FileSpec) -> list[ColumnSpec]:
    """Every column spec of a file entry, its tables' and its stage events'."""
    found = [c for specs in spec.tables.values() for c in specs.values()]
    for event in spec.stage_events:
        found += _event_specs(event).values()
    return found


def _register_lookups(spec: FileSpec, src: Source) -> list[Problem]:
    """Give ``src`` the SQL of each lookup's (key, value) table; problems for missing columns."""
    problems = []
    for column_spec in _column_specs(spec):
        lookup = column_spec.lookup
        if lookup is None or lookup.model_dump_json() in src.lookups:
            continue
        files = lookup_files(lookup, src.path)
        for path in files:
            header = _header(path, src.delimiter)
            for column in (lookup.key, lookup.value):
                if column not in header:
                    message = (
                        f"the mapping looks up column '{column}' in this file, but it has: "
                        f"{', '.join(sorted(header))}"
                    )
                    problems.append(Problem(message, str(path), 1, column))
        # One value per key (the smallest, so that the result does not depend on file order).
        src.lookups[lookup.model_dump_json()] = (
            f"SELECT {text_of(lookup.key)} AS k, min({text_of(lookup.value)}) AS v "
            f"FROM {_reader(files, src.delimiter)} GROUP BY 1"
            if files
            else None
        )
    return problems


def _event_specs(event: StageEventSpec) -> dict[str, ColumnSpec]:
    """The column specs of the ``stage_events`` columns a stage-event spec fills."""
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


def _kept(specs: dict[str, ColumnSpec], src: Source) -> list[str]:
    """SQL conditions keeping the rows where every ``skip_blank`` column has a value."""
    return [f"{cleaned(s, src)} IS NOT NULL" for s in specs.values() if s.skip_blank]


def _event_filter(event: StageEventSpec, specs: dict[str, ColumnSpec], src: Source) -> str:
    """SQL condition for the rows that give a stage entry."""
    # An event exists only where the row has a date and a stage: a blank close date
    # means "not closed yet", a stage mapped to nothing means "no event for this row".
    kept = [f"{cleaned(event.at, src)} IS NOT NULL"]
    if isinstance(event.stage, ColumnSpec):
        kept.append(f"{cleaned(event.stage, src)} IS NOT NULL")
    for column, wanted in event.where.items():
        options = [wanted] if isinstance(wanted, str) else wanted
        kept.append(f"{text_of(column)} IN ({', '.join(lit(o) for o in options)})")
    return " AND ".join(kept + _kept(specs, src))


def _missing(name: str, spec: ColumnSpec, src: Source) -> list[Problem]:
    """Problems for a spec none of whose source columns the file has (unless optional)."""
    if spec.from_ is None or src.columns(spec) or spec.optional:
        return []
    if len(spec.columns) == 1:
        wanted = f"column '{spec.columns[0]}'"
    else:
        wanted = "one of the columns " + ", ".join(f"'{c}'" for c in spec.columns)
    message = f"the mapping reads {wanted} for {name}, but the file has: {src.listed()}"
    return [Problem(message, str(src.path), 1, spec.columns[0])]


def _canonical(path: Path, table: Table, present: set[str]) -> list[Problem]:
    """Problems of a file named after a table: unknown columns, required ones missing."""
    problems = []
    known = set(table.names())
    for name in sorted(present - known):
        expected = f"unknown column for {table.name} (expected: {', '.join(table.names())})"
        problems.append(Problem(expected, str(path), 1, name))
    for column in table.all_columns:
        if column.required and column.name not in present:
            problems.append(Problem("required column is missing", str(path), 1, column.name))
    return problems


def plan_outputs(
    path: Path,
    columns: list[str],
    spec: FileSpec | None,
    tables: dict[str, Table],
    view: str,
    prefix: str,
) -> list[StagedOutput]:
    """Decide what tables a file feeds and build the typed SELECT for each; check columns exist."""
    present = set(columns) - {"_row"}
    src = Source(path, present)
    if spec is None:
        table = table_for_file(path, tables)
        problems = _canonical(path, table, present)
        known = present & set(table.names())
        wanted = [_Wanted(table, {c: ColumnSpec.model_validate(c) for c in known})]
    else:
        src.delimiter, src.timezone = spec.delimiter, spec.timezone
        wanted, problems = _mapped(spec, tables, src)
    if problems:
        raise DataValidationError(f"{path} does not fit its table", problems)
    # The alternatives (date orders, decimal marks) are chosen once per file, into a one-row
    # table that the first output's statement creates and the last one drops.
    choices = choices_sql([(w.table, w.specs) for w in wanted], src, view)
    chosen = ident(f"{prefix}_choices")
    source = ident(view) + (f", {chosen} AS {CHOICES}" if choices else "")
    outputs = []
    for i, output in enumerate(wanted):
        select, flagged = select_sql(output.table, output.specs, src)
        query = f"SELECT {select} FROM {source}"
        if output.where:
            query += f" WHERE {output.where}"
        if output.changes_only:
            # Snapshot rows repeat the stage while other fields change: keep the changes only.
            previous = "lag(stage) OVER (PARTITION BY record_id ORDER BY entered_at, _row)"
            query = f"SELECT * FROM ({query}) QUALIFY stage IS DISTINCT FROM {previous}"
        staged = f"{prefix}_{i}"
        # The found value of a bad cell is read from this column; a constant or an absent
        # optional column never fails to parse, but the query naming it must still bind.
        sources = {n: (src.columns(s) or ["_row"])[0] for n, s in output.specs.items()}
        sql = f"CREATE TEMP TABLE {ident(staged)} AS {query}"
        if choices and i == 0:
            sql = f"CREATE OR REPLACE TEMP TABLE {chosen} AS {choices}; {sql}"
        if choices and i == len(wanted) - 1:
            sql += f"; DROP TABLE {chosen}"
        outputs.append(StagedOutput(output.table.name, path, view, staged, sources, flagged, sql))
    return outputs


def _mapped(
    spec: FileSpec, tables: dict[str, Table], src: Source
) -> tuple[list[_Wanted], list[Problem]]:
    """The outputs a mapped file feeds, and the problems of columns it lacks."""
    problems = _register_lookups(spec, src)
    wanted = []
    for table_name, specs in spec.tables.items():
        table = tables[table_name]
        for name in specs:
            if name not in table.names():
                message = f"mapping names unknown column '{table_name}.{name}'"
                problems.append(Problem(message, str(src.path)))
        wanted.append(_Wanted(table, specs, " AND ".join(_kept(specs, src)) or None))
    for event in spec.stage_events:
        for column in event.where:
            if column not in src.present:
                message = (
                    f"the mapping keeps rows by column '{column}', but the file has: {src.listed()}"
                )
                problems.append(Problem(message, str(src.path), 1, column))
        specs = _event_specs(event)
        where = _event_filter(event, specs, src)
        wanted.append(_Wanted(tables["stage_events"], specs, where, event.changes_only))
    for output in wanted:
        for name, column_spec in output.specs.items():
            problems += _missing(name, column_spec, src)
    return wanted, problems
