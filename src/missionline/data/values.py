"""SQL that turns the text of a source file's cells into typed canonical values.

A column spec of a mapping reads one cell per row: the first filled of its source columns, the
first item of a list, a value looked up in a sibling file, a value map, a default; then parses
dates with strptime layouts and amounts with thousands separators and currency signs. Where a
spec offers alternatives (US or European dates, '.' or ',' decimals), one is chosen per file:
the one that reads the most of the file's values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from missionline.data.mapping import ColumnSpec
from missionline.data.schema import Column, Table
from missionline.data.sql import ident, lit

UTC_OFFSET = r"(Z|[+-]\d\d:?\d\d)$"  # a timestamp that carries its own offset
SPACE = r"[\s\x{00A0}\x{202F}]"  # spaces, including the no-break spaces of French amounts
SIGN = rf"{SPACE}*(?:[A-Z]{{3}}|\p{{Sc}})?{SPACE}*"  # a currency code or sign, spaced or not
# An amount between optional currency signs: "$1,234.50", "1.234,50 €", "EUR 12".
AMOUNT = rf"^{SIGN}(.*?){SIGN}$"
# Thousands separators allowed with each decimal mark ("1,234.50", "1.234,50", "1 234,50").
THOUSANDS = {".": r"[,' \x{00A0}\x{202F}]", ",": r"[.' \x{00A0}\x{202F}]"}
CHOICES = "_choices"  # the one-row table holding the alternatives chosen for the file
# What each strptime code can read (loosely: strptime has the last word on the value).
STRPTIME_CODES = {
    "%Y": r"\d{1,4}",
    "%y": r"\d{1,2}",
    "%m": r"\d{1,2}",
    "%d": r"\d{1,2}",
    "%H": r"\d{1,2}",
    "%I": r"\d{1,2}",
    "%M": r"\d{1,2}",
    "%S": r"\d{1,2}",
    "%g": r"\d{1,3}",
    "%f": r"\d{1,6}",
    "%j": r"\d{1,3}",
    "%p": r"[AaPp]\.?[Mm]\.?",
    "%b": r"[^\W\d_]+\.?",
    "%B": r"[^\W\d_]+",
    "%a": r"[^\W\d_]+\.?",
    "%A": r"[^\W\d_]+",
    "%%": "%",
}

SQL_TYPES = {
    "string": "VARCHAR",
    "float": "DOUBLE",
    "int": "BIGINT",
    "bool": "BOOLEAN",
    "timestamp": "TIMESTAMP",
    "date": "DATE",
}

Choice = tuple[str, tuple[object, ...]]  # ("format" or "decimal", the alternatives)


@dataclass
class Source:
    """What the SQL for one file reads: its columns, its lookups, the alternatives chosen."""

    path: Path
    present: set[str]
    delimiter: str | None = None
    timezone: str | None = None
    # lookup (as JSON) -> SQL of a (k, v) table of the sibling files; None when there are none
    lookups: dict[str, str | None] = field(default_factory=dict)
    choices: dict[Choice, str] = field(default_factory=dict)  # -> column of CHOICES

    def columns(self, spec: ColumnSpec) -> list[str]:
        """The spec's source columns that the file has, in order of preference."""
        return [c for c in spec.columns if c in self.present]

    def listed(self) -> str:
        """The file's columns, sorted, for messages."""
        return ", ".join(sorted(self.present))


def text_of(column: str) -> str:
    """SQL for a source column as trimmed text; an empty cell is NULL."""
    return f"NULLIF(TRIM(CAST({ident(column)} AS VARCHAR)), '')"


def cleaned(spec: ColumnSpec, src: Source) -> str:
    """SQL for the source value as text: first filled column, split, looked up, mapped."""
    if spec.value is not None:
        return f"CAST({lit(spec.value)} AS VARCHAR)"
    columns = src.columns(spec)
    if not columns:
        text = "CAST(NULL AS VARCHAR)"  # an optional column the file lacks
    elif len(columns) == 1:
        text = text_of(columns[0])
    else:
        text = f"COALESCE({', '.join(text_of(c) for c in columns)})"
    if spec.split is not None:
        text = f"NULLIF(TRIM(split_part({text}, {lit(spec.split)}, 1)), '')"
    if spec.lookup is not None:
        table = src.lookups.get(spec.lookup.model_dump_json())
        text = (
            f"(SELECT _lookup.v FROM ({table}) AS _lookup WHERE _lookup.k = {text})"
            if table
            else "CAST(NULL AS VARCHAR)"
        )
    if spec.values:
        whens = " ".join(f"WHEN {lit(k)} THEN {lit(v)}" for k, v in spec.values.items())
        other = lit(spec.others) if spec.maps_others else text
        mapped = f"CASE {text} {whens} ELSE {other} END"
        text = f"(CASE WHEN {text} IS NULL THEN NULL ELSE ({mapped}) END)"
    if spec.default is not None:
        text = f"COALESCE({text}, {lit(str(spec.default))})"
    return text


def _number(text: str, mark: str) -> tuple[str, str]:
    """SQL (readable, value) for an amount written with this decimal mark and separators."""
    stripped = f"regexp_extract({text}, {lit(AMOUNT)}, 1)"
    digits = rf"^[+-]?(\d{{1,3}}({THOUSANDS[mark]}\d{{3}})+|\d+)({re.escape(mark)}\d+)?$"
    readable = f"regexp_full_match({stripped}, {lit(digits)})"
    plain = (
        f"replace(regexp_replace({stripped}, {lit(THOUSANDS[mark])}, '', 'g'), {lit(mark)}, '.')"
    )
    return readable, f"(CASE WHEN {readable} THEN TRY_CAST({plain} AS DOUBLE) END)"


def _layout_regex(layout: str) -> str | None:
    """A regular expression every text that ``layout`` reads matches; None for unknown codes.

    A failed strptime is slow (microseconds); a regular expression rules most layouts out
    first, so that a value is only parsed with the layouts it could fit.
    """
    parts = []
    for token in re.findall(r"%-?.|\s+|.", layout, re.S):
        if token.isspace():
            parts.append(r"\s*")
        elif token.startswith("%"):
            code = STRPTIME_CODES.get(token.replace("-", ""))
            if code is None:
                return None
            parts.append(code)
        else:
            parts.append(re.escape(token))
    return "".join(parts)


def _layouts(text: str, layouts: tuple[str, ...]) -> str:
    """SQL parsing text with the first of these strptime layouts that reads it."""
    patterns = [_layout_regex(layout) for layout in layouts]
    if None in patterns:
        return f"try_strptime({text}, {lit(list(layouts))})"
    tries = [
        f"CASE WHEN regexp_full_match({text}, {lit(pattern)}) "
        f"THEN try_strptime({text}, {lit(layout)}) END"
        for layout, pattern in zip(layouts, patterns, strict=True)
    ]
    if len(tries) == 1:
        return tries[0]
    # One test of the whole list first: most values fit no layout of a wrong alternative.
    fits = lit("|".join(f"(?:{p})" for p in patterns))
    return f"(CASE WHEN regexp_full_match({text}, {fits}) THEN COALESCE({', '.join(tries)}) END)"


def alternatives(spec: ColumnSpec, column: Column) -> Choice | None:
    """The per-file choice a column spec needs (several date layouts or decimal marks)."""
    if column.type in ("timestamp", "date") and len(spec.layouts) > 1:
        return ("format", spec.layouts)
    if column.type in ("int", "float") and len(spec.marks) > 1:
        return ("decimal", spec.marks)
    return None


def _readable(text: str, choice: Choice, index: int) -> str:
    """SQL: whether the ``index``-th alternative of a choice reads ``text``."""
    kind, options = choice
    option = options[index]
    if kind == "format" and isinstance(option, tuple):
        return f"{_layouts(text, option)} IS NOT NULL"
    return _number(text, str(option))[0]


def _pick(choice: Choice, src: Source, read: list[str]) -> str:
    """SQL taking, per row, the value read by the alternative chosen for the file."""
    whens = " ".join(f"WHEN {i} THEN {value}" for i, value in enumerate(read))
    return f"(CASE {CHOICES}.{ident(src.choices[choice])} {whens} END)"


def _timestamp(text: str, spec: ColumnSpec, column: Column, src: Source) -> str:
    """SQL converting text into a UTC timestamp; NULL where it does not parse."""
    tz = spec.timezone or src.timezone
    if isinstance(spec.format, str):
        value = f"try_strptime({text}, {lit(spec.format)})"
        if "%z" in spec.format or "%Z" in spec.format:
            return f"timezone('UTC', {value})"  # an explicit offset wins over a zone
    elif spec.layouts:
        read = [_layouts(text, layouts) for layouts in spec.layouts]
        choice = alternatives(spec, column)
        value = read[0] if choice is None else _pick(choice, src, read)
    else:
        naive = f"TRY_CAST({text} AS TIMESTAMP)"
        if tz:
            naive = f"timezone('UTC', timezone({lit(tz)}, {naive}))"
        # text with its own offset (Z, +02:00) is converted to UTC whatever the file's zone
        aware = f"timezone('UTC', TRY_CAST({text} AS TIMESTAMPTZ))"
        has_offset = f"regexp_matches({text}, {lit(UTC_OFFSET)})"
        return f"(CASE WHEN {has_offset} THEN {aware} ELSE {naive} END)"
    return f"timezone('UTC', timezone({lit(tz)}, {value}))" if tz else value


def typed(text: str, column: Column, spec: ColumnSpec, src: Source) -> str:
    """SQL converting cleaned text into the column's type; NULL where it does not parse."""
    kind = column.type
    if kind in ("timestamp", "date"):
        return f"CAST({_timestamp(text, spec, column, src)} AS {SQL_TYPES[kind]})"
    if kind == "string":
        return text
    if kind not in ("int", "float"):
        return f"TRY_CAST({text} AS {SQL_TYPES[kind]})"
    if spec.marks:
        read = [_number(text, mark)[1] for mark in spec.marks]
        choice = alternatives(spec, column)
        number = read[0] if choice is None else _pick(choice, src, read)
    else:
        number = f"TRY_CAST({text} AS DOUBLE)"
    if kind == "float":
        return number
    # TRY_CAST would round 12.5 to 13; a whole number must be written as one
    return f"(CASE WHEN {number} = floor({number}) THEN CAST({number} AS BIGINT) END)"


def select_sql(table: Table, specs: dict[str, ColumnSpec], src: Source) -> tuple[str, list[str]]:
    """SQL selecting typed canonical columns plus a parse-failure flag per typed column."""
    parts = ["_row"]
    flagged = []
    for column in table.all_columns:
        spec = specs.get(column.name)
        if spec is None:
            parts.append(f"CAST(NULL AS {SQL_TYPES[column.type]}) AS {ident(column.name)}")
            continue
        text = cleaned(spec, src)
        value = typed(text, column, spec, src)
        parts.append(f"{value} AS {ident(column.name)}")
        if column.type != "string":
            parts.append(f"({text} IS NOT NULL AND {value} IS NULL) AS {ident('!' + column.name)}")
            flagged.append(column.name)
    return ", ".join(parts), flagged


def choices_sql(
    outputs: list[tuple[Table, dict[str, ColumnSpec]]], src: Source, view: str
) -> str | None:
    """A query for one row holding, per choice, the alternative that reads the most values.

    Every column of the file that offers the same alternatives (say US and European dates)
    counts together, so one file is read one way; a tie goes to the first alternative. The
    names of the chosen columns are recorded in ``src.choices``.
    """
    texts: dict[Choice, list[str]] = {}
    for table, specs in outputs:
        for name, spec in specs.items():
            if (choice := alternatives(spec, table.column(name))) is not None:
                texts.setdefault(choice, []).append(cleaned(spec, src))
    if not texts:
        return None
    counts, picks = [], []
    for n, (choice, values) in enumerate(texts.items()):
        src.choices[choice] = f"_choice_{n}"
        names = [f"_count_{n}_{i}" for i in range(len(choice[1]))]
        for i, name in enumerate(names):
            hits = " + ".join(f"count_if({_readable(t, choice, i)})" for t in values)
            counts.append(f"{hits} AS {name}")
        best = f"greatest({', '.join(names)})"
        whens = " ".join(f"WHEN {name} = {best} THEN {i}" for i, name in enumerate(names))
        picks.append(f"CASE {whens} END AS _choice_{n}")
    inner = f"SELECT {', '.join(counts)} FROM {ident(view)}"
    return f"SELECT {', '.join(picks)} FROM ({inner})"
