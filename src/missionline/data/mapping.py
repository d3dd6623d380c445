"""The mapping file: how source files (CRM exports, spreadsheets) become canonical tables.

A mapping lists file patterns; each matched file feeds one or more tables, column by column,
with value maps, date and number layouts and a time zone, and can derive ``stage_events`` rows
from date columns ("first_contact_date means the record entered stage mql"), the stage named in
the mapping or read from a column. Real exports vary, so a column spec can name alternative
columns, be optional, pick a layout per file among alternatives (dates written the US or the
European way), read amounts with thousands separators and currency signs, take the first item of
a list and look a value up in a sibling file; a stage-event spec can keep only some rows and only
the rows where the stage changed.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from missionline.data.schema import TABLES
from missionline.errors import PlanError, Problem
from missionline.yaml_source import YamlSource, read_yaml, validate_model

DECIMAL_MARKS = (".", ",")


class MappingModel(BaseModel):
    """Base for mapping objects: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Lookup(MappingModel):
    """Replace a value by a column of the matching row of another file beside the imported one."""

    file: str | list[str] = Field(
        description="A file-name pattern (or a list), matched in the imported file's folder."
    )
    key: str = Field(description="The column of that file holding the value looked up.")
    value: str = Field(description="The column of that file to take from the matching row.")

    @property
    def patterns(self) -> list[str]:
        """The file-name patterns of the files to look in."""
        return [self.file] if isinstance(self.file, str) else list(self.file)


class ColumnSpec(MappingModel):
    """Where one canonical column's values come from and how they are cleaned."""

    from_: str | list[str] | None = Field(
        None,
        alias="from",
        description="The source column, or alternatives: per row, the first one with a value.",
    )
    value: str | float | int | bool | None = Field(
        None, description="A constant for every row, instead of a source column."
    )
    values: dict[str, str | None] = Field(
        default_factory=dict, description="Value map: source value -> canonical value."
    )
    others: str | None = Field(
        None, description="The value for filled source values that `values` does not list."
    )
    default: str | float | int | None = Field(
        None, description="Used when the source value is missing or blank."
    )
    format: str | list[str] | list[list[str]] | None = Field(
        None,
        description="strptime layout for dates (e.g. '%d/%m/%Y'); a list is tried in order for "
        "each value; a list of lists holds alternatives, one chosen per file.",
    )
    decimal: str | list[str] | None = Field(
        None,
        description="The decimal mark of numbers written with thousands separators or currency "
        "signs ('.' or ','); a list holds alternatives, one chosen per file.",
    )
    timezone: str | None = Field(None, description="Time zone of naive source timestamps.")
    skip_blank: bool = Field(
        False,
        description="Leave out the rows where this value (after the value map) is missing, "
        "instead of loading a null or failing a required column.",
    )
    optional: bool = Field(
        False, description="A file without the source column reads it as blank, not an error."
    )
    split: str | None = Field(
        None, min_length=1, description="The value is a list with this separator: take the first."
    )
    lookup: Lookup | None = Field(None, description="Look the value up in another file.")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        # `person_id: mql_id` is shorthand for `person_id: {from: mql_id}` (a list too).
        return {"from": data} if isinstance(data, str | list) else data

    @field_validator("from_")
    @classmethod
    def _some_columns(cls, value: str | list[str] | None) -> str | list[str] | None:
        if isinstance(value, list) and not value:
            raise ValueError("give at least one column")
        return value

    @field_validator("format")
    @classmethod
    def _layouts(cls, value: Any) -> Any:
        if isinstance(value, list):
            groups = [g if isinstance(g, list) else [g] for g in value]
            if not value or not all(groups):
                raise ValueError("give at least one layout in each list")
            # Several layouts read values into one column: they must all mean the same zone.
            if any("%z" in f or "%Z" in f for group in groups for f in group):
                raise ValueError("a list of layouts cannot read UTC offsets (%z); give one layout")
        return value

    @field_validator("decimal")
    @classmethod
    def _marks(cls, value: str | list[str] | None) -> str | list[str] | None:
        marks = [value] if isinstance(value, str) else value or []
        if (value is not None and not marks) or any(m not in DECIMAL_MARKS for m in marks):
            raise ValueError("the decimal mark is '.' or ','")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> ColumnSpec:
        if (self.from_ is None) == (self.value is None):
            raise ValueError("give exactly one of 'from' (a source column) or 'value' (a constant)")
        # A default or a constant is never blank: skipping on it would silently do nothing.
        if self.skip_blank and (self.default is not None or self.value is not None):
            raise ValueError("'skip_blank' needs a source column ('from') and no 'default'")
        needs_column = [k for k in ("optional", "split", "lookup") if k in self.model_fields_set]
        if self.value is not None and needs_column:
            raise ValueError(f"'{needs_column[0]}' needs a source column ('from')")
        if "others" in self.model_fields_set and not self.values:
            raise ValueError("'others' needs a value map ('values')")
        return self

    @property
    def columns(self) -> list[str]:
        """The source columns this spec reads, in order of preference."""
        if self.from_ is None:
            return []
        return [self.from_] if isinstance(self.from_, str) else list(self.from_)

    @property
    def maps_others(self) -> bool:
        """Whether unlisted values take the `others` value (null included)."""
        return "others" in self.model_fields_set

    @property
    def layouts(self) -> tuple[tuple[str, ...], ...]:
        """The date layouts as alternatives, each a list tried in order for every value."""
        if self.format is None or isinstance(self.format, str):
            return ()
        if all(isinstance(f, str) for f in self.format):
            return (tuple(str(f) for f in self.format),)
        return tuple(tuple(f) if isinstance(f, list) else (f,) for f in self.format)

    @property
    def marks(self) -> tuple[str, ...]:
        """The decimal marks to choose from (one per file)."""
        if self.decimal is None:
            return ()
        return (self.decimal,) if isinstance(self.decimal, str) else tuple(self.decimal)


class StageEventSpec(MappingModel):
    """Derive one ``stage_events`` row per source row where the date (and the stage) is filled.

    ``stage`` is a stage id for every row, or read from a column with a value map
    (``{from: deal_stage, values: {Won: won, Lost: lost}}``); rows whose stage is then blank
    are left out, like rows without a date.
    """

    stage: str | ColumnSpec = Field(
        description="A stage id, or a column spec reading it from the file (e.g. via a value map)."
    )
    at: ColumnSpec = Field(description="The source column holding the entry date.")
    record_id: ColumnSpec
    record_type: str = Field("person", pattern="^(person|opportunity|account)$")
    owner_id: ColumnSpec | None = None
    reason: ColumnSpec | None = None
    where: dict[str, str | list[str]] = Field(
        default_factory=dict,
        description="Only rows whose column holds this value (or one of these values).",
    )
    changes_only: bool = Field(
        False,
        description="Rows are snapshots: only rows where the record's stage differs from its "
        "previous row (by date) give an entry.",
    )


class FileSpec(MappingModel):
    """One kind of source file: which files it matches and what it feeds."""

    match: str | list[str] = Field(
        description="A file-name pattern, e.g. 'contacts*.csv', or a list of them."
    )
    timezone: str | None = Field(None, description="Time zone of this file's naive timestamps.")
    delimiter: str | None = Field(
        None, description="CSV delimiter (default: comma; tab for .tsv files)."
    )
    tables: dict[str, dict[str, ColumnSpec]] = Field(
        default_factory=dict, description="Canonical table -> canonical column -> source."
    )
    stage_events: list[StageEventSpec] = Field(default_factory=list)

    @property
    def patterns(self) -> list[str]:
        """The file-name patterns of this entry."""
        return [self.match] if isinstance(self.match, str) else list(self.match)

    def matches(self, path: Path) -> bool:
        """Return whether ``path``'s file name matches one of this spec's patterns."""
        return any(fnmatch.fnmatch(path.name, p) for p in self.patterns)


class Mapping(MappingModel):
    """A whole mapping file."""

    files: list[FileSpec] = Field(min_length=1)


def load_mapping(path: Path) -> Mapping:
    """Load a mapping file; unknown tables or columns are located errors."""
    source = read_yaml(path)
    mapping = validate_model(source, Mapping, "mapping")
    problems = list(_check_targets(mapping, source))
    if problems:
        raise PlanError(f"{path} has errors", problems)
    return mapping


def _check_targets(mapping: Mapping, source: YamlSource) -> Iterator[Problem]:
    """Yield problems for unknown target tables (declared fields are checked at import)."""
    for i, spec in enumerate(mapping.files):
        for table in spec.tables:
            if table not in TABLES:
                known = ", ".join(TABLES)
                yield source.problem(
                    ("files", i, "tables", table),
                    f"unknown table '{table}' (expected one of {known})",
                )


def spec_for(mapping: Mapping, path: Path) -> FileSpec:
    """Return the first file spec matching ``path``; a PlanError when none does."""
    for spec in mapping.files:
        if spec.matches(path):
            return spec
    patterns = ", ".join(p for s in mapping.files for p in s.patterns)
    raise PlanError(f"{path}: no entry of the mapping matches this file (patterns: {patterns})")
