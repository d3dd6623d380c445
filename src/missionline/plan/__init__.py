"""The mission plan: pydantic models of ``missionline.yaml``, its loader and its rules."""

from missionline.plan.loader import load_plan, plan_from_text
from missionline.plan.models import Plan, Stage

__all__ = ["Plan", "Stage", "load_plan", "plan_from_text"]
