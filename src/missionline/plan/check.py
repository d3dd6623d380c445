"""``plan check``: every schema problem and rule finding of a plan, errors and warnings."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from missionline.errors import PlanError
from missionline.plan import (  # noqa: F401  (importing registers the rules)
    rules_alignment,
    rules_alignment_index,
    rules_cascade,
    rules_entry,
    rules_experiments,
    rules_structure,
)
from missionline.plan.models import Plan
from missionline.plan.rules import Finding, PlanContext, run_rules
from missionline.yaml_source import read_yaml, validate_model


@dataclass(frozen=True)
class PlanCheck:
    """The outcome of checking a plan: the plan (when it parsed) and the findings."""

    plan: Plan | None
    findings: list[Finding] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        """Findings that make the plan unusable."""
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        """Findings that show a gap but do not block."""
        return [f for f in self.findings if f.severity == "warning"]

    def as_json(self) -> dict[str, list[dict[str, Any]]]:
        """The JSON contract: ``{"errors": [...], "warnings": [...]}``."""
        keys = ("rule", "message", "file", "line", "column", "object")
        return {
            "errors": [{k: getattr(f, k) for k in keys} for f in self.errors],
            "warnings": [{k: getattr(f, k) for k in keys} for f in self.warnings],
        }


def check_plan(
    path: Path, context: PlanContext | None = None, text: str | None = None
) -> PlanCheck:
    """Check the plan at ``path`` (or ``text`` named after it) against the schema and the rules."""
    try:
        source = read_yaml(path, text)
        plan = validate_model(source, Plan, "plan")
    except PlanError as exc:
        findings = [
            Finding(
                "schema",
                "error",
                p.message,
                None,
                p.file,
                p.line,
                p.column if isinstance(p.column, int) else None,
            )
            for p in exc.problems
        ] or [Finding("schema", "error", exc.message, None, None, None, None)]
        return PlanCheck(None, findings)
    return PlanCheck(plan, run_rules(plan, source, context))
