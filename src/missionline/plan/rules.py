"""Semantic rules over a loaded plan: one small class per rule, collected in a registry.

Each rule has an id, a severity and a hint, and yields findings located in the YAML file. The
rules themselves live in :mod:`.rules_structure`, :mod:`.rules_alignment` and
:mod:`.rules_entry`; importing :mod:`missionline.plan.check` registers them all.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import ClassVar, Literal

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
        text = self.message if self.rule == "schema" else f"[{self.rule}] {self.message}"
        return Problem(text, self.file, self.line, self.column)


@dataclass(frozen=True)
class PlanContext:
    """What the rules may know beyond the plan: the data's facts, when a workspace has data.

    ``spend_by_initiative`` is None when no data is available (rules that need data are quiet).
    """

    columns: Mapping[str, str] = field(default_factory=dict)
    spend_by_initiative: Mapping[str, float] | None = None


class Rule:
    """Base class: subclasses set ``id``, ``severity``, ``hint`` and implement ``check``."""

    id: ClassVar[str]
    severity: ClassVar[Severity] = "error"
    hint: ClassVar[str] = ""

    def check(self, plan: Plan, source: YamlSource, context: PlanContext) -> Iterator[Finding]:
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


def run_rules(plan: Plan, source: YamlSource, context: PlanContext | None = None) -> list[Finding]:
    """Run every registered rule and return the findings in file order."""
    context = context or PlanContext()
    findings = [f for rule in RULES for f in rule().check(plan, source, context)]
    return sorted(findings, key=lambda f: (f.line or 0, f.column or 0, f.rule))
