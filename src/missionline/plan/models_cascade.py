"""Plan models of the top-down cascade: the assumptions that override history, and scenarios.

The cascade itself (``missionline.planning``) measures its assumptions from the workspace's
history; ``cascade.assumptions`` replaces any of them with the plan's own numbers. Conversion
and lag are keyed by the stage a step starts from (the step goes to the next stage of the
ladder). Each of ``conversion`` and ``lag_days`` takes stage keys with numbers (every segment),
segment keys with a map of stages (that segment only), or both; a segment's own number wins.
References and ranges are checked by :mod:`.rules_cascade`.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from missionline.plan.models import Id, PlanModel

NonNegative = Annotated[float, Field(ge=0)]
Lookback = Annotated[
    str,
    StringConstraints(pattern=r"^\s*\d+(\.\d+)?\s*[dw]\s*$"),
    Field(description="A history window such as 365d or 52w."),
]


class CascadeAssumptions(PlanModel):
    """Numbers the cascade uses instead of the measured ones."""

    deal_size: float | dict[str, float] | None = Field(
        None, description="Average won deal: one amount, or a map of segment -> amount."
    )
    conversion: dict[str, float | dict[str, float]] = Field(
        default_factory=dict,
        description="Stage -> share reaching the next ladder stage, or segment -> {stage: share}.",
    )
    lag_days: dict[str, NonNegative | dict[str, NonNegative]] = Field(
        default_factory=dict,
        description="Stage -> days to the next ladder stage, or segment -> {stage: days}.",
    )
    lookback: Lookback | None = Field(
        None, description="How much history the measured assumptions use (default 365d)."
    )


class Cascade(PlanModel):
    """The reverse waterfall's settings: where the ladder starts, and the assumptions."""

    start_stage: str | None = Field(
        None,
        description="The first stage of the ladder (default: the first main-path stage).",
    )
    assumptions: CascadeAssumptions = Field(default_factory=CascadeAssumptions)


class Scenario(PlanModel):
    """A named set of changes to the cascade's assumptions, compared side by side."""

    id: Id
    name: str
    set: list[str] = Field(
        min_length=1,
        description='Changes such as "conversion.sql=+0.05", "deal_size.computing=*1.1", '
        '"budget.paid_search=-20%".',
    )
