"""Semantic rules over a loaded plan: one small class per rule, collected in a registry.

Each rule has an id, a severity and a hint, and yields findings located in the YAML file.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar, Literal

from missionline.data.schema import TABLES
from missionline.errors import Problem
from missionline.plan.models import Plan
from missionline.yaml_source import YamlSource

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Finding:
    """A rule's finding: which rule, on which object, where, and what to do."""

    rule: str
    severity: Severity
    message: str
    object: str | None
    file: str | None
    line: int | None
    column: int | None

    def as_problem(self) -> Problem:
        """Return the finding as a located problem for error output."""
        return Problem(f"[{self.rule}] {self.message}", self.file, self.line, self.column)


class Rule:
    """Base class: subclasses set ``id``, ``severity``, ``hint`` and implement ``check``."""

    id: ClassVar[str]
    severity: ClassVar[Severity] = "error"
    hint: ClassVar[str] = ""

    def check(self, plan: Plan, source: YamlSource) -> Iterator[Finding]:
        """Yield the findings of this rule on ``plan``."""
        raise NotImplementedError

    def finding(
        self, source: YamlSource, path: tuple[str | int, ...], message: str, obj: str | None
    ) -> Finding:
        """Build a finding located at ``path`` in the plan file."""
        line, column = source.locate(path)
        text = f"{message}. {self.hint}" if self.hint else message
        return Finding(self.id, self.severity, text, obj, source.file, line, column)


RULES: list[type[Rule]] = []


def register(rule: type[Rule]) -> type[Rule]:
    """Class decorator adding a rule to the registry."""
    RULES.append(rule)
    return rule


@register
class DuplicateStageId(Rule):
    """Two stages share an id."""

    id = "duplicate-id"
    hint = "Give every stage its own id."

    def check(self, plan: Plan, source: YamlSource) -> Iterator[Finding]:
        seen: set[str] = set()
        for i, stage in enumerate(plan.lifecycle.stages):
            if stage.id in seen:
                path = ("lifecycle", "stages", i, "id")
                yield self.finding(source, path, f"stage id '{stage.id}' is used twice", stage.id)
            seen.add(stage.id)


@register
class UnknownNextStage(Rule):
    """A stage's ``next`` names a stage that does not exist."""

    id = "unknown-reference"
    hint = "Use the id of a stage declared under lifecycle.stages."

    def check(self, plan: Plan, source: YamlSource) -> Iterator[Finding]:
        ids = set(plan.stage_ids())
        for i, stage in enumerate(plan.lifecycle.stages):
            for j, target in enumerate(stage.next):
                if target not in ids:
                    path = ("lifecycle", "stages", i, "next", j)
                    msg = f"stage '{stage.id}' lists unknown next stage '{target}'"
                    yield self.finding(source, path, msg, stage.id)


@register
class UnknownStageOwner(Rule):
    """A stage's owner is not one of the declared functions."""

    id = "unknown-reference"
    hint = "Declare the function under 'functions' or fix the owner."

    def check(self, plan: Plan, source: YamlSource) -> Iterator[Finding]:
        functions = {f.id for f in plan.functions}
        if not functions:
            return
        for i, stage in enumerate(plan.lifecycle.stages):
            if stage.owner is not None and stage.owner not in functions:
                path = ("lifecycle", "stages", i, "owner")
                msg = f"stage '{stage.id}' is owned by unknown function '{stage.owner}'"
                yield self.finding(source, path, msg, stage.id)


@register
class UnknownFieldTable(Rule):
    """An extra field is declared on a table that does not exist or shadows a canonical column."""

    id = "unknown-field-table"
    hint = f"Declare fields on one of: {', '.join(TABLES)}."

    def check(self, plan: Plan, source: YamlSource) -> Iterator[Finding]:
        for table, columns in plan.fields.items():
            if table not in TABLES:
                yield self.finding(source, ("fields", table), f"unknown table '{table}'", table)
                continue
            canonical = set(TABLES[table].names())
            for column in columns:
                if column in canonical:
                    msg = f"'{table}.{column}' is already a canonical column"
                    yield self.finding(source, ("fields", table, column), msg, column)


@register
class NoMainPath(Rule):
    """The lifecycle has no stage on the main path (every stage is an exit)."""

    id = "no-main-path"
    hint = "Mark only the leaving stages (disqualified, lost, recycled) with 'exit'."

    def check(self, plan: Plan, source: YamlSource) -> Iterator[Finding]:
        if not plan.lifecycle.path():
            yield self.finding(source, ("lifecycle", "stages"), "every stage is an exit", None)


def run_rules(plan: Plan, source: YamlSource) -> list[Finding]:
    """Run every registered rule and return the findings in file order."""
    findings = [f for rule in RULES for f in rule().check(plan, source)]
    return sorted(findings, key=lambda f: (f.line or 0, f.column or 0))
