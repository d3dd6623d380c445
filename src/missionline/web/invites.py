"""Questionnaire invitations: single-use links for one respondent of one function.

Kept apart from the web routes (:mod:`missionline.web.survey`) so that ``missionline survey
invite`` works without the web extra installed.
"""

from __future__ import annotations

from missionline.errors import MissionlineError
from missionline.plan.models import Plan
from missionline.web.store import INVITE_DAYS, Store

PATH = "/survey"


def invite_path(secret: str) -> str:
    """The path of the questionnaire for an invitation token."""
    return f"{PATH}/{secret}"


def new_invite(
    store: Store, plan: Plan, respondent: str, function: str, days: float = INVITE_DAYS
) -> str:
    """Create an invitation for a function of the plan; return its token (shown once)."""
    functions = [f.id for f in plan.functions]
    if functions and function not in functions:
        raise MissionlineError(
            f"unknown function {function!r} for an invitation; use one of {', '.join(functions)}"
        )
    return store.add_invite(respondent, function, days)[1]
