"""Rules about the plan's structure: unique ids, references that resolve, a sound lifecycle."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from missionline.data.schema import TABLES
from missionline.plan.models import Plan
from missionline.plan.rules import Finding, PlanContext, Rule, register
from missionline.yaml_source import YamlSource

# Lists of objects with ids: (plan attribute, YAML path, what one is called).
COLLECTIONS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("success_factors", ("success_factors",), "success factor"),
    ("markets", ("markets",), "market"),
    ("segments", ("segments",), "segment"),
    ("functions", ("functions",), "function"),
    ("objectives", ("objectives",), "objective"),
    ("messages", ("messages",), "message"),
    ("initiatives", ("initiatives",), "initiative"),
    ("stages", ("lifecycle", "stages"), "stage"),
)

# References: (collection, field path inside an object, the collection it must name).
REFERENCES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("stages", ("next",), "stages"),
    ("stages", ("owner",), "functions"),
    ("stages", ("recycle_to",), "stages"),
    ("objectives", ("function",), "functions"),
    ("objectives", ("supports",), "success_factors"),
    ("initiatives", ("function",), "functions"),
    ("initiatives", ("supports",), "objectives"),
    ("initiatives", ("message",), "messages"),
    ("messages", ("segment",), "segments"),
    ("messages", ("market",), "markets"),
)


def objects(plan: Plan, collection: str) -> Sequence[Any]:
    """The objects of one collection (``stages`` means lifecycle.stages)."""
    return plan.lifecycle.stages if collection == "stages" else getattr(plan, collection)


def base_path(collection: str) -> tuple[str, ...]:
    """The YAML path of a collection."""
    return next(path for name, path, _ in COLLECTIONS if name == collection)


def label(collection: str) -> str:
    """What one object of a collection is called in messages."""
    return next(text for name, _, text in COLLECTIONS if name == collection)


def ids(plan: Plan, collection: str) -> set[str]:
    """The ids declared in one collection."""
    return {o.id for o in objects(plan, collection)}


def _values(obj: Any, field: tuple[str, ...]) -> list[tuple[tuple[str | int, ...], str]]:
    """The referenced ids at ``field`` of ``obj`` with their path suffixes."""
    value: Any = obj
    for part in field:
        value = getattr(value, part, None)
        if value is None:
            return []
    if isinstance(value, list):
        return [((*field, i), v) for i, v in enumerate(value)]
    return [(field, value)]


@register
class DuplicateId(Rule):
    """Two objects of one kind share an id."""

    id = "duplicate-id"
    hint = "Ids must be unique within their list."

    def check(self, plan: Plan, source: YamlSource, context: PlanContext) -> Iterator[Finding]:
        for collection, path, text in COLLECTIONS:
            seen: set[str] = set()
            for i, obj in enumerate(objects(plan, collection)):
                if obj.id in seen:
                    msg = f"{text} id '{obj.id}' is used twice"
                    yield self.finding(source, (*path, i, "id"), msg, obj.id)
                seen.add(obj.id)


@register
class UnknownReference(Rule):
    """A reference names an object that is not declared."""

    id = "unknown-reference"
    hint = "Declare it or fix the id."

    def check(self, plan: Plan, source: YamlSource, context: PlanContext) -> Iterator[Finding]:
        for collection, field, target in REFERENCES:
            known = ids(plan, target)
            if target in ("functions", "segments", "markets") and not known:
                continue  # the plan does not use that vocabulary yet
            for i, obj in enumerate(objects(plan, collection)):
                for suffix, value in _values(obj, field):
                    if value not in known:
                        path = (*base_path(collection), i, *suffix)
                        msg = (
                            f"{label(collection)} '{obj.id}' refers to unknown "
                            f"{label(target)} '{value}' in {'.'.join(field)}"
                        )
                        yield self.finding(source, path, msg, obj.id)


@register
class UnknownMetric(Rule):
    """An objective or success factor (or a metric's stage) names an unknown metric or stage."""

    id = "unknown-metric"
    hint = "Define the metric under `metrics` (measure and filters)."

    def check(self, plan: Plan, source: YamlSource, context: PlanContext) -> Iterator[Finding]:
        for collection in ("success_factors", "objectives"):
            for i, obj in enumerate(objects(plan, collection)):
                if obj.metric not in plan.metrics:
                    path = (collection, i, "metric")
                    msg = f"{label(collection)} '{obj.id}' uses unknown metric '{obj.metric}'"
                    yield self.finding(source, path, msg, obj.id)
        stages = set(plan.stage_ids())
        main_path = [s.id for s in plan.lifecycle.path()]
        for name, metric in plan.metrics.items():
            if metric.stage is not None and metric.stage not in stages:
                msg = f"metric '{name}' counts unknown stage '{metric.stage}'"
                yield self.finding(source, ("metrics", name, "stage"), msg, name)
            elif metric.measure in ("entries", "conversion") and metric.stage is None:
                msg = f"metric '{name}' measures {metric.measure} but names no stage"
                yield self.finding(source, ("metrics", name, "measure"), msg, name)
            elif metric.measure == "conversion" and metric.stage not in main_path[:-1]:
                msg = (
                    f"metric '{name}' measures conversion from '{metric.stage}', which has no "
                    "next stage on the main path"
                )
                yield self.finding(source, ("metrics", name, "stage"), msg, name)


@register
class HorizonWithoutMission(Rule):
    """A target is set for the plan's horizon, but the plan has no mission with a horizon."""

    id = "horizon-without-mission"
    hint = "Add mission.horizon, or give the target a month, quarter or year."

    def check(self, plan: Plan, source: YamlSource, context: PlanContext) -> Iterator[Finding]:
        if plan.mission is not None:
            return
        for collection in ("success_factors", "objectives"):
            for i, obj in enumerate(objects(plan, collection)):
                if obj.period == "horizon":
                    msg = f"'{obj.id}' has a target per horizon but the plan has no mission"
                    yield self.finding(source, (collection, i, "period"), msg, obj.id)


@register
class SlaUnknownStage(Rule):
    """A stage's SLA is measured from or until a stage that does not exist."""

    id = "sla-unknown-stage"
    hint = "Use a stage id (or first_sales_touch for `until`)."

    def check(self, plan: Plan, source: YamlSource, context: PlanContext) -> Iterator[Finding]:
        stages = set(plan.stage_ids())
        for i, stage in enumerate(plan.lifecycle.stages):
            if stage.sla is None:
                continue
            ends = {"measured_from": stage.sla.measured_from, "until": stage.sla.until}
            for key, value in ends.items():
                if value is not None and value not in stages | {"first_sales_touch"}:
                    path = ("lifecycle", "stages", i, "sla", key)
                    msg = f"the SLA of stage '{stage.id}' is {key} unknown stage '{value}'"
                    yield self.finding(source, path, msg, stage.id)


@register
class StageCycle(Rule):
    """Main-path stages form a cycle (records could loop forever without leaving)."""

    id = "cycle"
    hint = "Only exit stages (such as recycled) may lead back to an earlier stage."

    def check(self, plan: Plan, source: YamlSource, context: PlanContext) -> Iterator[Finding]:
        path_ids = {s.id for s in plan.lifecycle.path()}
        edges = {s.id: [n for n in s.next if n in path_ids] for s in plan.lifecycle.path()}
        state: dict[str, int] = {}  # 1 visiting, 2 done

        def visit(node: str, trail: list[str]) -> list[str] | None:
            state[node] = 1
            for nxt in edges.get(node, []):
                if state.get(nxt) == 1:
                    return [*trail[trail.index(nxt) :], nxt] if nxt in trail else [node, nxt]
                if nxt not in state and (found := visit(nxt, [*trail, nxt])):
                    return found
            state[node] = 2
            return None

        for stage in plan.lifecycle.path():
            if stage.id not in state and (loop := visit(stage.id, [stage.id])):
                index = plan.stage_ids().index(loop[0])
                msg = "stages form a cycle: " + " → ".join(loop)
                yield self.finding(source, ("lifecycle", "stages", index, "next"), msg, loop[0])
                return


@register
class UnreachableStage(Rule):
    """A stage cannot be reached from the first stage by following ``next``."""

    id = "unreachable-stage"
    hint = "Add it to some stage's `next`, or remove it."

    def check(self, plan: Plan, source: YamlSource, context: PlanContext) -> Iterator[Finding]:
        stages = plan.lifecycle.stages
        known = {s.id: s for s in stages}
        reached, todo = {stages[0].id}, [stages[0].id]
        while todo:
            for nxt in known[todo.pop()].next:
                if nxt in known and nxt not in reached:
                    reached.add(nxt)
                    todo.append(nxt)
        for i, stage in enumerate(stages):
            if stage.id not in reached:
                msg = f"stage '{stage.id}' cannot be reached from '{stages[0].id}'"
                yield self.finding(source, ("lifecycle", "stages", i, "id"), msg, stage.id)


@register
class UnknownFieldTable(Rule):
    """An extra field is declared on a table that does not exist or shadows a canonical column."""

    id = "unknown-field-table"
    hint = f"Declare fields on one of: {', '.join(TABLES)}, with new column names."

    def check(self, plan: Plan, source: YamlSource, context: PlanContext) -> Iterator[Finding]:
        for table, columns in plan.fields.items():
            if table not in TABLES:
                yield self.finding(source, ("fields", table), f"unknown table '{table}'", table)
                continue
            canonical = set(TABLES[table].names())
            for column in columns:
                if column in canonical:
                    msg = f"'{table}.{column}' is already a canonical column"
                    yield self.finding(source, ("fields", table, column), msg, column)


@register
class NoMainPath(Rule):
    """The lifecycle has no stage on the main path (every stage is an exit)."""

    id = "no-main-path"
    hint = "Mark only the leaving stages (disqualified, lost, recycled) with `exit`."

    def check(self, plan: Plan, source: YamlSource, context: PlanContext) -> Iterator[Finding]:
        if not plan.lifecycle.path():
            yield self.finding(source, ("lifecycle", "stages"), "every stage is an exit", None)
