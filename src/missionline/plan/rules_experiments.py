"""Rules about the plan's experiments: references that resolve and a design that can be analysed."""

from __future__ import annotations

from collections.abc import Iterator

from missionline.data.schema import ENTITIES
from missionline.plan.models import Plan
from missionline.plan.models_experiments import Experiment
from missionline.plan.rules import Finding, PlanContext, Rule, register
from missionline.yaml_source import YamlSource

NUMERIC = ("float", "int")


def _problems(
    experiment: Experiment, plan: Plan, context: PlanContext
) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Yield (path inside the experiment, message) for each problem of one experiment."""
    if experiment.initiative not in {i.id for i in plan.initiatives}:
        yield ("initiative",), f"unknown initiative '{experiment.initiative}'"
    if len(set(experiment.variants)) < len(experiment.variants):
        yield ("variants",), "a variant is listed twice"
    if experiment.control not in experiment.variants:
        yield ("control",), f"control '{experiment.control}' is not among the variants"
    if experiment.split is not None and (
        len(experiment.split) != len(experiment.variants) or min(experiment.split) <= 0
    ):
        yield ("split",), "split needs one positive share per variant"
    stage = experiment.metric.conversion
    if stage is not None and stage not in plan.stage_ids():
        yield ("metric", "conversion"), f"unknown stage '{stage}'"
    if experiment.metric.value == "revenue" and experiment.unit != "account":
        yield ("metric", "value"), "revenue is booked per account: it needs unit: account"
    if experiment.end < experiment.start:
        yield ("end",), f"ends ({experiment.end}) before it starts ({experiment.start})"
    column = experiment.covariate.column if experiment.covariate else None
    if column is not None and context.columns:
        table = ENTITIES[experiment.unit][0]
        if context.columns.get(f"{table}.{column}") not in NUMERIC:
            yield (
                ("covariate", "column"),
                f"covariate '{column}' is not a numeric column of {table}",
            )


@register
class InvalidExperiment(Rule):
    """An experiment refers to unknown objects or cannot be analysed as declared."""

    id = "invalid-experiment"
    hint = "See docs/experiments.md, 'Declaring an experiment'."

    def check(self, plan: Plan, source: YamlSource, context: PlanContext) -> Iterator[Finding]:
        seen: set[str] = set()
        for i, experiment in enumerate(plan.experiments):
            if experiment.id in seen:
                msg = f"experiment id '{experiment.id}' is used twice"
                yield self.finding(source, ("experiments", i, "id"), msg, experiment.id)
            seen.add(experiment.id)
            for path, problem in _problems(experiment, plan, context):
                msg = f"experiment '{experiment.id}': {problem}"
                yield self.finding(source, ("experiments", i, *path), msg, experiment.id)
