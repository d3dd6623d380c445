"""Pydantic models of the plan file, ``missionline.yaml``.

Unknown keys are rejected everywhere so that a typo is an error, not a silently ignored line.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from missionline.data.schema import FIELD_TYPES

Identifier = Field(pattern=r"^[a-z][a-z0-9_]*$", description="A snake_case identifier.")
RecordType = Literal["person", "opportunity", "account"]
ExitKind = Literal["disqualified", "lost", "recycled"]


class PlanModel(BaseModel):
    """Base for plan objects: strict keys, immutable once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Function(PlanModel):
    """A business function (marketing, sales, customer success) and its role in the mission."""

    id: str = Identifier
    name: str
    purpose: str | None = None


class Stage(PlanModel):
    """One lifecycle stage: what it means, who owns it, where records go next."""

    id: str = Identifier
    name: str
    definition: str | None = Field(None, description="The agreed meaning, in one or two sentences.")
    owner: str | None = Field(None, description="The id of the function that owns the stage.")
    record_type: RecordType = Field(
        "person", description="Which records enter the stage: people, opportunities or accounts."
    )
    next: list[str] = Field(default_factory=list, description="Stage ids a record may move to.")
    exit: ExitKind | None = Field(
        None,
        description="Marks an off-path stage: where records leave (or recycle from) the funnel.",
    )
    terminal: bool = Field(False, description="True for the last stage of the main path.")


class Lifecycle(PlanModel):
    """The end-to-end revenue process: stages in funnel order."""

    stages: list[Stage] = Field(min_length=1)

    def path(self) -> list[Stage]:
        """Return the main-path stages (not exits) in funnel order."""
        return [s for s in self.stages if s.exit is None]

    def stage(self, stage_id: str) -> Stage:
        """Return the stage with this id."""
        for s in self.stages:
            if s.id == stage_id:
                return s
        raise KeyError(stage_id)


class Plan(PlanModel):
    """The whole plan: the company, its functions, lifecycle and declared extra fields."""

    version: Literal[1] = 1
    company: str = "My company"
    functions: list[Function] = Field(default_factory=list)
    lifecycle: Lifecycle
    fields: dict[str, dict[str, FIELD_TYPES]] = Field(
        default_factory=dict,
        description="Extra columns per canonical table, e.g. people: {lead_score: float}.",
    )

    def stage_ids(self) -> list[str]:
        """Return every stage id in plan order."""
        return [s.id for s in self.lifecycle.stages]
