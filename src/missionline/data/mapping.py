"""The mapping file: how source files (CRM exports, spreadsheets) become canonical tables.

A mapping lists file patterns; each matched file feeds one or more tables, column by column,
with value maps, date formats and a time zone, and can derive ``stage_events`` rows from date
columns ("first_contact_date means the record entered stage mql"), the stage named in the mapping
or read from a column. ``skip_blank`` leaves out of a table the rows where a value is blank.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from missionline.data.schema import TABLES
from missionline.errors import PlanError, Problem
from missionline.yaml_source import YamlSource, read_yaml, validate_model


class MappingModel(BaseModel):
    """Base for mapping objects: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ColumnSpec(MappingModel):
    """Where one canonical column's values come from and how they are cleaned."""

    from_: str | None = Field(None, alias="from", description="The source column name.")
    value: str | float | int | bool | None = Field(
        None, description="A constant for every row, instead of a source column."
    )
    values: dict[str, str | None] = Field(
        default_factory=dict, description="Value map: source value -> canonical value."
    )
    default: str | float | int | None = Field(
        None, description="Used when the source value is missing or blank."
    )
    format: str | None = Field(None, description="strptime format for dates, e.g. '%d/%m/%Y'.")
    timezone: str | None = Field(None, description="Time zone of naive source timestamps.")
    skip_blank: bool = Field(
        False,
        description="Leave out the rows where this value (after the value map) is missing, "
        "instead of loading a null or failing a required column.",
    )

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        # `person_id: mql_id` is shorthand for `person_id: {from: mql_id}`.
        return {"from": data} if isinstance(data, str) else data

    @model_validator(mode="after")
    def _one_source(self) -> ColumnSpec:
        if (self.from_ is None) == (self.value is None):
            raise ValueError("give exactly one of 'from' (a source column) or 'value' (a constant)")
        # A default or a constant is never blank: skipping on it would silently do nothing.
        if self.skip_blank and (self.default is not None or self.value is not None):
            raise ValueError("'skip_blank' needs a source column ('from') and no 'default'")
        return self


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


class FileSpec(MappingModel):
    """One kind of source file: which files it matches and what it feeds."""

    match: str = Field(description="A file-name pattern, e.g. 'contacts*.csv'.")
    timezone: str | None = Field(None, description="Time zone of this file's naive timestamps.")
    delimiter: str | None = Field(
        None, description="CSV delimiter (default: comma; tab for .tsv files)."
    )
    tables: dict[str, dict[str, ColumnSpec]] = Field(
        default_factory=dict, description="Canonical table -> canonical column -> source."
    )
    stage_events: list[StageEventSpec] = Field(default_factory=list)

    def matches(self, path: Path) -> bool:
        """Return whether ``path``'s file name matches this spec's pattern."""
        return fnmatch.fnmatch(path.name, self.match)


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
    patterns = ", ".join(s.match for s in mapping.files)
    raise PlanError(f"{path}: no entry of the mapping matches this file (patterns: {patterns})")
