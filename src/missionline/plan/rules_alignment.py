"""Rules about alignment: every programme serves an outcome, every outcome has an owner.

These are mostly warnings: a plan with an orphan programme still loads, but the gap shows.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from missionline.plan.models import MetricDefinition, Plan
from missionline.plan.rules import Finding, PlanContext, Rule, register
from missionline.yaml_source import YamlSource

MONEY = re.compile(r"^[A-Z]{3}$")  # ISO currency codes: USD, EUR, ...
MEASURE_UNITS = {
    "entries": "count",
    "won_count": "count",
    "conversion": "ratio",
    "win_rate": "ratio",
    "won_amount": "money",
    "spend": "money",
    "revenue": "money",
    "pipeline_created": "money",
}


def unit_kind(unit: str) -> str:
    """Classify a unit as money (a currency code), ratio, or count."""
    if MONEY.match(unit):
        return "money"
    return {"%": "ratio", "percent": "ratio", "share": "ratio"}.get(unit.lower(), unit.lower())


def metric_unit(metric: MetricDefinition) -> str:
    """The kind of unit a metric's measure produces."""
    return MEASURE_UNITS[metric.measure]


@register
class OrphanInitiative(Rule):
    """An initiative supports no objective: spend with no line to an outcome."""

    id = "orphan-initiative"
    severity = "warning"
    hint = "List the objectives it serves under `supports`, or stop it."

    def check(self, plan: Plan, source: YamlSource, context: PlanContext) -> Iterator[Finding]:
        for i, initiative in enumerate(plan.initiatives):
            if not initiative.supports:
                msg = f"initiative '{initiative.id}' supports no objective"
                yield self.finding(source, ("initiatives", i, "id"), msg, initiative.id)


@register
class ObjectiveWithoutOutcome(Rule):
    """An objective supports no success factor."""

    id = "objective-without-outcome"
    severity = "warning"
    hint = "List the success factors it serves under `supports`."

    def check(self, plan: Plan, source: YamlSource, context: PlanContext) -> Iterator[Finding]:
        for i, objective in enumerate(plan.objectives):
            if not objective.supports:
                msg = f"objective '{objective.id}' supports no success factor"
                yield self.finding(source, ("objectives", i, "id"), msg, objective.id)


@register
class UnownedOutcome(Rule):
    """A success factor that no function's objective serves."""

    id = "unowned-outcome"
    severity = "warning"
    hint = "Give some function an objective that supports it."

    def check(self, plan: Plan, source: YamlSource, context: PlanContext) -> Iterator[Finding]:
        served = {sf for objective in plan.objectives for sf in objective.supports}
        for i, factor in enumerate(plan.success_factors):
            if factor.id not in served:
                msg = f"no objective serves success factor '{factor.id}'"
                yield self.finding(source, ("success_factors", i, "id"), msg, factor.id)


@register
class IdleFunction(Rule):
    """A function has no objective: its role in the mission is not measured."""

    id = "function-without-objective"
    severity = "warning"
    hint = "Give it at least one objective with a metric and a target."

    def check(self, plan: Plan, source: YamlSource, context: PlanContext) -> Iterator[Finding]:
        if not plan.objectives:
            return
        busy = {objective.function for objective in plan.objectives}
        for i, function in enumerate(plan.functions):
            if function.id not in busy:
                msg = f"function '{function.id}' has no objective"
                yield self.finding(source, ("functions", i, "id"), msg, function.id)


@register
class IncompleteStage(Rule):
    """A main-path stage lacks a definition, an owner or an entry rule."""

    id = "incomplete-stage"
    severity = "warning"
    hint = "Every stage needs an agreed definition, an owner and a verifiable entry rule."

    def check(self, plan: Plan, source: YamlSource, context: PlanContext) -> Iterator[Finding]:
        for i, stage in enumerate(plan.lifecycle.stages):
            if stage.exit is not None:
                continue
            missing = [
                key
                for key in ("definition", "owner", "entry_rule")
                if getattr(stage, key) in (None, "")
            ]
            if missing:
                msg = f"stage '{stage.id}' has no {', no '.join(missing)}"
                yield self.finding(source, ("lifecycle", "stages", i, "id"), msg, stage.id)


@register
class UnitMismatch(Rule):
    """A target's unit does not match what its metric measures."""

    id = "unit-mismatch"
    hint = "Money metrics take a currency code (USD), conversions a ratio, volumes a count."

    def check(self, plan: Plan, source: YamlSource, context: PlanContext) -> Iterator[Finding]:
        for collection in ("success_factors", "objectives"):
            for i, obj in enumerate(getattr(plan, collection)):
                metric = plan.metrics.get(obj.metric)
                if metric is None or obj.unit is None:
                    continue
                if unit_kind(obj.unit) != metric_unit(metric):
                    msg = (
                        f"'{obj.id}' has unit '{obj.unit}' but metric '{obj.metric}' "
                        f"measures {metric.measure} ({metric_unit(metric)})"
                    )
                    yield self.finding(source, (collection, i, "unit"), msg, obj.id)


@register
class InitiativeOutsideHorizon(Rule):
    """An initiative runs (partly) outside the mission's horizon."""

    id = "initiative-outside-horizon"
    severity = "warning"
    hint = "Move its dates inside mission.horizon, or extend the horizon."

    def check(self, plan: Plan, source: YamlSource, context: PlanContext) -> Iterator[Finding]:
        if plan.mission is None:
            return
        horizon = plan.mission.horizon
        for i, initiative in enumerate(plan.initiatives):
            for key in ("start", "end"):
                day = getattr(initiative, key)
                if day is not None and not horizon.start <= day <= horizon.end:
                    msg = (
                        f"initiative '{initiative.id}' {key}s on {day}, outside the horizon "
                        f"{horizon.start} to {horizon.end}"
                    )
                    yield self.finding(source, ("initiatives", i, key), msg, initiative.id)


@register
class BudgetWithoutSpend(Rule):
    """An initiative has a budget but the data show no spend on it."""

    id = "budget-without-spend"
    severity = "warning"
    hint = "Import its spend (spend.initiative_id), or check that the initiative is running."

    def check(self, plan: Plan, source: YamlSource, context: PlanContext) -> Iterator[Finding]:
        spend = context.spend_by_initiative
        if not spend:
            return  # no spend data at all: nothing to compare with
        for i, initiative in enumerate(plan.initiatives):
            if initiative.budget and not spend.get(initiative.id):
                msg = (
                    f"initiative '{initiative.id}' has a budget of {initiative.budget:,.0f} "
                    "but no spend in the data"
                )
                yield self.finding(source, ("initiatives", i, "budget"), msg, initiative.id)
