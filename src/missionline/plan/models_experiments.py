"""Pydantic models of the plan's ``experiments``: randomised tests of an initiative's hypothesis.

An experiment names the initiative whose hypothesis it tests, the unit that was randomised
(people, opportunities or accounts, as in the ``assignments`` table), the outcome metric over a
fixed window after each unit's assignment, the variants and the control, its dates and the
smallest effect worth detecting. References (initiative, stage, control) are checked by
:mod:`.rules_experiments`.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field, model_validator

from missionline.plan.models import Duration, Id, PlanModel, RecordType

ValueMeasure = Literal["won_amount", "revenue"]


class ExperimentMetric(PlanModel):
    """The outcome per unit: a conversion to a stage, or a value, within a window."""

    conversion: str | None = Field(
        None, description="A stage id: the unit converts when it enters the stage in the window."
    )
    value: ValueMeasure | None = Field(
        None,
        description="won_amount: won opportunity amounts closed in the window; revenue: the "
        "account's revenue rows in the window.",
    )
    within: Duration = Field(description="The window after each unit's assignment, e.g. 30d.")

    @model_validator(mode="after")
    def _one_kind(self) -> ExperimentMetric:
        """Exactly one of conversion and value: a metric is one or the other."""
        if (self.conversion is None) == (self.value is None):
            raise ValueError("give exactly one of `conversion` (a stage id) and `value`")
        return self

    @property
    def kind(self) -> Literal["conversion", "value"]:
        """``conversion`` or ``value``."""
        return "conversion" if self.conversion is not None else "value"


class Covariate(PlanModel):
    """A pre-assignment measurement per unit for variance reduction (CUPED)."""

    column: str | None = Field(
        None,
        description="A numeric column of the unit's table (people, opportunities or accounts) "
        "known before the assignment, e.g. employees.",
    )
    pre_period: Duration | None = Field(
        None, description="The metric itself over this window before each unit's assignment."
    )

    @model_validator(mode="after")
    def _one_source(self) -> Covariate:
        """Exactly one of column and pre_period."""
        if (self.column is None) == (self.pre_period is None):
            raise ValueError("give exactly one of `column` and `pre_period`")
        return self


class Experiment(PlanModel):
    """A randomised test of an initiative's hypothesis: variants against a control."""

    id: Id
    initiative: str = Field(description="The id of the initiative whose hypothesis it tests.")
    hypothesis: str = Field(description="What the treatment should change, and why.")
    unit: RecordType = Field(
        "person", description="What was randomised: assignments.unit_id is a record of this type."
    )
    metric: ExperimentMetric
    variants: list[str] = Field(min_length=2, description="Variant names as in assignments.")
    control: str = Field(description="The variant every other variant is compared with.")
    split: list[float] | None = Field(
        None,
        description="Planned share of units per variant, in the order of `variants` "
        "(default: equal). The sample-ratio check compares the assignments with it.",
    )
    start: dt.date
    end: dt.date
    minimum_detectable_effect: float = Field(
        gt=0,
        description="The smallest lift worth detecting, in the metric's units (rate points for "
        "a conversion, money for a value) unless relative_mde.",
    )
    relative_mde: bool = Field(
        False, description="minimum_detectable_effect is relative to the control (0.1 = +10%)."
    )
    direction: Literal["increase", "decrease"] = Field(
        "increase", description="The hoped direction of the effect."
    )
    alpha: float = Field(0.05, gt=0, lt=1, description="Two-sided significance level.")
    power: float = Field(0.8, gt=0, lt=1, description="Power at the minimum detectable effect.")
    covariate: Covariate | None = Field(
        None, description="A pre-assignment covariate for variance reduction (CUPED)."
    )
    sequential: bool = Field(
        False,
        description="Decide with always-valid (mSPRT) intervals, so the results may be "
        "looked at any time; otherwise decide once the planned sample or the end is reached.",
    )
