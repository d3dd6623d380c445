"""Pydantic models of the plan file, ``missionline.yaml``.

The plan is written top-down: the mission, the business success factors (outcomes with
targets), what each function must do (objectives), the initiatives that serve them, and the
lifecycle both functions share. Unknown keys are rejected everywhere, so a typo is an error,
not a silently ignored line. References between objects are checked by :mod:`.rules`.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from missionline.data.schema import FIELD_TYPES

Id = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z][a-z0-9_]*$"),
    Field(description="A snake_case identifier, unique within its list."),
]
RecordType = Literal["person", "opportunity", "account"]
ExitKind = Literal["disqualified", "lost", "recycled"]
Period = Literal["month", "quarter", "year", "horizon"]
Duration = Annotated[
    str,
    StringConstraints(pattern=r"^\s*\d+(\.\d+)?\s*[hdw]\s*$"),
    Field(description="A duration such as 24h, 2d or 1w."),
]


class PlanModel(BaseModel):
    """Base for plan objects: strict keys, immutable once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Horizon(PlanModel):
    """The period the plan covers."""

    start: dt.date
    end: dt.date


class Mission(PlanModel):
    """Why the company exists and the horizon of this plan."""

    statement: str
    horizon: Horizon


class SuccessFactor(PlanModel):
    """A business outcome with a target: what success means for the whole company."""

    id: Id
    name: str
    metric: str = Field(description="The id of a metric under `metrics`.")
    target: float
    period: Period = Field(description="The period the target applies to, e.g. quarter.")
    unit: str = Field(description="The target's unit: USD, count, ratio, ...")


class Market(PlanModel):
    """A market (outside-in: where to play) with its priority (1 = highest)."""

    id: Id
    name: str
    priority: int = Field(ge=1)


class Segment(Market):
    """A customer segment with its priority (1 = highest)."""


class Function(PlanModel):
    """A business function (marketing, sales, customer success) and its role in the mission."""

    id: Id
    name: str
    purpose: str | None = Field(None, description="The function's role in the mission.")


class Objective(PlanModel):
    """What one function must achieve to serve one or more success factors."""

    id: Id
    function: str
    supports: list[str] = Field(default_factory=list, description="Success factor ids.")
    metric: str = Field(description="The id of a metric under `metrics`.")
    target: float
    period: Period
    unit: str | None = Field(
        None, description="The target's unit; when absent the unit is not checked."
    )


class Message(PlanModel):
    """The compelling message for a segment or market, agreed by both functions."""

    id: Id
    segment: str | None = None
    market: str | None = None
    statement: str
    proof_points: list[str] = Field(default_factory=list)


class Initiative(PlanModel):
    """A programme or campaign: what it serves, what it costs and what it should change."""

    id: Id
    name: str
    function: str
    supports: list[str] = Field(default_factory=list, description="Objective ids.")
    owner: str | None = None
    budget: float | None = Field(None, ge=0)
    start: dt.date | None = None
    end: dt.date | None = None
    channel: str | None = None
    message: str | None = Field(None, description="The id of a message.")
    hypothesis: str | None = Field(None, description="What the initiative is expected to change.")


class Sla(PlanModel):
    """The service level of a hand-off: how fast the next function must respond."""

    within: Duration
    measured_from: str | None = Field(None, description="Stage id; defaults to this stage.")
    until: str = Field(
        "first_sales_touch", description="A stage id, or first_sales_touch (default)."
    )


class Stage(PlanModel):
    """One lifecycle stage: what it means, who owns it, how entry is verified, where next."""

    id: Id
    name: str
    definition: str | None = Field(None, description="The agreed meaning, in one or two sentences.")
    owner: str | None = Field(None, description="The id of the function that owns the stage.")
    record_type: RecordType = Field(
        "person", description="Which records enter the stage: people, opportunities or accounts."
    )
    next: list[str] = Field(default_factory=list, description="Stage ids a record may move to.")
    exit: ExitKind | None = Field(
        None,
        description="Marks an off-path stage where records leave (or recycle from) the funnel.",
    )
    terminal: bool = Field(False, description="True for the last stage of the main path.")
    entry_rule: str | None = Field(
        None, description="An expression every record must meet on entering the stage."
    )
    sla: Sla | None = None
    recycle_to: str | None = Field(None, description="The stage a recycled record returns to.")
    disqualify_reasons: list[str] = Field(default_factory=list)


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


Measure = Literal[
    "entries",
    "conversion",
    "won_amount",
    "won_count",
    "win_rate",
    "spend",
    "revenue",
    "pipeline_created",
]


class MetricDefinition(PlanModel):
    """A named metric built on the metric library, with filters, so every target has an actual."""

    measure: Measure
    stage: str | None = Field(None, description="For entries and conversion: the stage id.")
    kind: str | None = Field(None, description="Opportunity or revenue kind, e.g. new.")
    function: str | None = Field(None, description="For spend: the function id.")
    channel: str | None = Field(None, description="For spend and entries: the channel.")
    segment: str | None = None
    market: str | None = None
    description: str | None = None


# Experiments and alignment build on PlanModel above, so they are imported once it exists.
from missionline.plan.models_alignment import AlignmentSpec  # noqa: E402
from missionline.plan.models_cascade import Cascade, Scenario  # noqa: E402
from missionline.plan.models_experiments import Experiment  # noqa: E402


class Plan(PlanModel):
    """The whole plan."""

    version: Literal[1] = 1
    company: str = "My company"
    mission: Mission | None = None
    success_factors: list[SuccessFactor] = Field(default_factory=list)
    markets: list[Market] = Field(default_factory=list)
    segments: list[Segment] = Field(default_factory=list)
    functions: list[Function] = Field(default_factory=list)
    objectives: list[Objective] = Field(default_factory=list)
    messages: list[Message] = Field(default_factory=list)
    initiatives: list[Initiative] = Field(default_factory=list)
    experiments: list[Experiment] = Field(default_factory=list)
    lifecycle: Lifecycle
    metrics: dict[str, MetricDefinition] = Field(default_factory=dict)
    fields: dict[str, dict[str, FIELD_TYPES]] = Field(
        default_factory=dict,
        description="Extra columns per canonical table, e.g. people: {lead_score: float}.",
    )
    glossary: dict[str, str] = Field(
        default_factory=dict, description="Terms and their agreed meaning."
    )
    alignment: AlignmentSpec | None = Field(
        None, description="How alignment is measured: index weights and the questionnaire."
    )
    cascade: Cascade | None = Field(
        None, description="The top-down cascade: where its ladder starts, assumption overrides."
    )
    scenarios: list[Scenario] = Field(
        default_factory=list, description="Named changes to the cascade, compared side by side."
    )

    def stage_ids(self) -> list[str]:
        """Return every stage id in plan order."""
        return [s.id for s in self.lifecycle.stages]
