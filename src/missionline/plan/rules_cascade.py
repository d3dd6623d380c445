"""Rules about the cascade block and the scenarios: known stages and segments, sound numbers.

The ladder is the main path from ``cascade.start_stage`` to the won stage (see
:mod:`missionline.planning.ladder`); conversions and lags belong to its stages before the last.
"""

from __future__ import annotations

from collections.abc import Iterator

from missionline.errors import MissionlineError
from missionline.metrics.stays import won_stage
from missionline.plan.models import Plan
from missionline.plan.rules import Finding, PlanContext, Rule, register
from missionline.planning.changes import change_problem, parse_change
from missionline.yaml_source import YamlSource

ASSUMPTIONS = ("cascade", "assumptions")


def ladder_ids(plan: Plan) -> list[str]:
    """The ladder's stage ids (from the first main-path stage when start_stage is unknown)."""
    path = [s.id for s in plan.lifecycle.path()]
    if not path:  # rule no-main-path reports it
        return []
    end = path.index(won_stage(plan).id) + 1
    start = plan.cascade.start_stage if plan.cascade else None
    return path[path.index(start) : end] if start in path[: end - 1] else path[:end]


def _numbers(plan: Plan, key: str) -> Iterator[tuple[tuple[str, ...], str | None, str, float]]:
    """(path, segment, stage, value) for each number under conversion or lag_days."""
    if plan.cascade is None:
        return
    values = getattr(plan.cascade.assumptions, key)
    for name, value in values.items():
        if isinstance(value, dict):
            for stage, number in value.items():
                yield (*ASSUMPTIONS, key, name, stage), name, stage, float(number)
        else:
            yield (*ASSUMPTIONS, key, name), None, name, float(value)


@register
class CascadeUnknownKey(Rule):
    """The cascade block names a stage or segment the ladder or the plan does not have."""

    id = "cascade-unknown-key"
    hint = "Use a main-path stage from the ladder's start to the one before won, and a segment id."

    def check(self, plan: Plan, source: YamlSource, context: PlanContext) -> Iterator[Finding]:
        steps = ladder_ids(plan)[:-1]
        if plan.cascade is None or not steps:
            return
        path = [s.id for s in plan.lifecycle.path()]
        before_won = path[: path.index(won_stage(plan).id)]
        start = plan.cascade.start_stage
        if start is not None and start not in before_won:
            msg = f"cascade.start_stage {start!r} is not a main-path stage before the won stage"
            yield self.finding(source, ("cascade", "start_stage"), msg, start)
        segments = {s.id for s in plan.segments}
        for key in ("conversion", "lag_days"):
            for where, segment, stage, _ in _numbers(plan, key):
                if segment is not None and segment not in segments:
                    msg = f"cascade {key} names {segment!r}, which is not a segment of the plan"
                    yield self.finding(source, where[:-1], msg, segment)
                elif stage not in steps:
                    msg = (
                        f"cascade {key} names {stage!r}, which is not a ladder stage before the "
                        f"last ({', '.join(steps)})"
                    )
                    yield self.finding(source, where, msg, stage)
        size = plan.cascade.assumptions.deal_size
        for segment in size if isinstance(size, dict) else {}:
            if segment not in segments:
                msg = f"cascade deal_size names {segment!r}, which is not a segment of the plan"
                yield self.finding(source, (*ASSUMPTIONS, "deal_size", segment), msg, segment)


@register
class CascadeConversionRange(Rule):
    """A conversion in the cascade block is not a share above 0 and at most 1."""

    id = "cascade-conversion-range"
    hint = "Write a conversion as a share: 0.3 for 30%."

    def check(self, plan: Plan, source: YamlSource, context: PlanContext) -> Iterator[Finding]:
        for where, _, stage, value in _numbers(plan, "conversion"):
            if not 0 < value <= 1:
                msg = f"cascade conversion at {stage!r} is {value:g}, outside (0, 1]"
                yield self.finding(source, where, msg, stage)


@register
class CascadeDealSize(Rule):
    """A deal size in the cascade block is zero or negative."""

    id = "cascade-deal-size"
    hint = "The average won deal is an amount above 0."

    def check(self, plan: Plan, source: YamlSource, context: PlanContext) -> Iterator[Finding]:
        size = plan.cascade.assumptions.deal_size if plan.cascade else None
        items = size.items() if isinstance(size, dict) else [(None, size)]
        for segment, value in items:
            if value is not None and value <= 0:
                where = (*ASSUMPTIONS, "deal_size", *([segment] if segment else []))
                msg = f"cascade deal_size{f' for {segment}' if segment else ''} is {value:g}"
                yield self.finding(source, where, msg, segment)


@register
class ScenarioInvalid(Rule):
    """A scenario repeats an id, or one of its changes does not parse or names nothing known."""

    id = "scenario-invalid"
    hint = "Write changes as PATH=VALUE, e.g. conversion.sql=+0.05 (see docs/cascade.md)."

    def check(self, plan: Plan, source: YamlSource, context: PlanContext) -> Iterator[Finding]:
        seen: set[str] = set()
        steps = ladder_ids(plan)
        for i, scenario in enumerate(plan.scenarios):
            if scenario.id in seen:
                msg = f"scenario id {scenario.id!r} is used twice"
                yield self.finding(source, ("scenarios", i, "id"), msg, scenario.id)
            seen.add(scenario.id)
            for j, text in enumerate(scenario.set):
                try:
                    problem = change_problem(parse_change(text), plan, steps)
                except MissionlineError as exc:
                    problem = exc.message
                if problem is not None:
                    where = ("scenarios", i, "set", j)
                    yield self.finding(source, where, f"{problem}", scenario.id)
