"""Read ``missionline.yaml`` into a :class:`Plan`, failing with file:line:column problems."""

from __future__ import annotations

from pathlib import Path

from missionline.errors import PlanError
from missionline.plan.models import Plan
from missionline.plan.rules import run_rules
from missionline.yaml_source import YamlSource, read_yaml, validate_model


def _check(source: YamlSource) -> Plan:
    plan = validate_model(source, Plan, "plan")
    errors = [f for f in run_rules(plan, source) if f.severity == "error"]
    if errors:
        raise PlanError(f"{source.file} has errors", [f.as_problem() for f in errors])
    return plan


def load_plan(path: Path) -> Plan:
    """Load and validate the plan file at ``path``; raise PlanError on any error."""
    return _check(read_yaml(path))


def plan_from_text(text: str, name: str = "missionline.yaml") -> Plan:
    """Load a plan from YAML text (tests and examples); ``name`` is used in error locations."""
    return _check(read_yaml(Path(name), text))
