"""Rules about the ``alignment`` block: weights name real components, statements are unique."""

from __future__ import annotations

from collections.abc import Iterator

from missionline.plan.models import Plan
from missionline.plan.models_alignment import DEFAULT_WEIGHTS
from missionline.plan.rules import Finding, PlanContext, Rule, register
from missionline.yaml_source import YamlSource


@register
class UnknownAlignmentComponent(Rule):
    """``alignment.weights`` names a component the index does not have."""

    id = "unknown-alignment-component"
    hint = f"Use one of: {', '.join(DEFAULT_WEIGHTS)}."

    def check(self, plan: Plan, source: YamlSource, context: PlanContext) -> Iterator[Finding]:
        if plan.alignment is None:
            return
        for key in plan.alignment.weights:
            if key not in DEFAULT_WEIGHTS:
                msg = f"alignment.weights names unknown component '{key}'"
                yield self.finding(source, ("alignment", "weights", key), msg, key)


@register
class NegativeAlignmentWeight(Rule):
    """A component weight is below zero."""

    id = "negative-alignment-weight"
    hint = "Weights are 0 or more; 0 leaves a component out of the index."

    def check(self, plan: Plan, source: YamlSource, context: PlanContext) -> Iterator[Finding]:
        if plan.alignment is None:
            return
        for key, weight in plan.alignment.weights.items():
            if weight < 0:
                msg = f"alignment.weights gives '{key}' the negative weight {weight:g}"
                yield self.finding(source, ("alignment", "weights", key), msg, key)


@register
class DuplicateStatementId(Rule):
    """Two questionnaire statements share an id, so their answers could not be told apart."""

    id = "duplicate-statement-id"
    hint = "Statement ids must be unique; keep an id when you reword its statement."

    def check(self, plan: Plan, source: YamlSource, context: PlanContext) -> Iterator[Finding]:
        if plan.alignment is None or plan.alignment.survey is None:
            return
        seen: set[str] = set()
        for i, statement in enumerate(plan.alignment.survey):
            if statement.id in seen:
                msg = f"questionnaire statement id '{statement.id}' is used twice"
                yield self.finding(source, ("alignment", "survey", i, "id"), msg, statement.id)
            seen.add(statement.id)


@register
class UnknownComparedFunction(Rule):
    """``alignment.compare`` names a function the plan does not declare."""

    id = "unknown-compared-function"
    hint = "Name two function ids from `functions`, e.g. [marketing, sales]."

    def check(self, plan: Plan, source: YamlSource, context: PlanContext) -> Iterator[Finding]:
        known = {f.id for f in plan.functions}
        if plan.alignment is None or not known:
            return  # without functions the plan does not use that vocabulary yet
        for i, function in enumerate(plan.alignment.compare):
            if function not in known:
                msg = f"alignment.compare names unknown function '{function}'"
                yield self.finding(source, ("alignment", "compare", i), msg, function)
