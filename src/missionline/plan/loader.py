"""Read ``missionline.yaml`` into a :class:`Plan`, failing with file:line:column problems."""

from __future__ import annotations

from pathlib import Path

from missionline.errors import PlanError
from missionline.plan.check import check_plan
from missionline.plan.models import Plan


def _usable(path: Path, text: str | None = None) -> Plan:
    result = check_plan(path, text=text)
    problems = [f.as_problem() for f in result.errors]
    if len(problems) == 1 and problems[0].file is None:
        raise PlanError(problems[0].message)  # the file itself could not be read
    if problems or result.plan is None:
        raise PlanError(f"{path} has errors", problems)
    return result.plan


def load_plan(path: Path) -> Plan:
    """Load and validate the plan file at ``path``; raise PlanError on any error."""
    return _usable(path)


def plan_from_text(text: str, name: str = "missionline.yaml") -> Plan:
    """Load a plan from YAML text (tests and examples); ``name`` is used in error locations."""
    return _usable(Path(name), text)
