"""The mission map's content: how each function's role and metrics connect to business results.

Layers from top to bottom: the mission, the success factors, the objectives grouped by function
(with the stages each function owns), and the initiatives. Rendering is in
:mod:`missionline.report.mission_map`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from missionline.alignment.attainment import Attainment, Status
from missionline.plan.models import Plan

NodeKind = Literal["mission", "success_factor", "objective", "initiative"]


@dataclass(frozen=True)
class MapNode:
    """A box on the map: what it is, its metric line and, with data, its status."""

    id: str
    kind: NodeKind
    label: str
    detail: str = ""
    function: str | None = None
    status: Status | None = None
    actual: float | None = None
    target: float | None = None
    unit: str | None = None


@dataclass(frozen=True)
class FunctionLane:
    """A column of the map: one function, its purpose and the stages it owns."""

    id: str
    name: str
    purpose: str
    stages: list[str]


@dataclass(frozen=True)
class MissionMap:
    """Everything a renderer needs: nodes, edges (supports relations) and function lanes."""

    title: str
    nodes: list[MapNode]
    edges: list[tuple[str, str]]  # (upper node id, lower node id)
    lanes: list[FunctionLane] = field(default_factory=list)


def format_value(value: float | None, unit: str | None) -> str:
    """Short human form: 21.5M USD, 0.35, 801."""
    if value is None:
        return "-"
    if unit and unit.lower() in ("ratio", "%", "share"):
        return f"{value:.0%}"
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.1f}{suffix}" + (
                f" {unit}" if unit not in (None, "count") else ""
            )
    text = f"{value:,.0f}" if float(value).is_integer() or abs(value) >= 100 else f"{value:.2f}"
    return text + (f" {unit}" if unit not in (None, "count") else "")


def build_mission_map(plan: Plan, attainments: list[Attainment] | None = None) -> MissionMap:
    """Assemble the map from the plan and, when given, the actuals against targets."""
    results = {(a.kind, a.id): a for a in attainments or []}
    nodes: list[MapNode] = []
    edges: list[tuple[str, str]] = []
    statement = plan.mission.statement if plan.mission else plan.company
    nodes.append(MapNode("mission", "mission", plan.company, statement))
    for factor in plan.success_factors:
        result = results.get(("success_factor", factor.id))
        nodes.append(
            _target_node(
                factor.id,
                "success_factor",
                factor.name,
                factor.metric,
                factor.target,
                factor.unit,
                factor.period,
                None,
                result,
            )
        )
        edges.append(("mission", factor.id))
    for objective in plan.objectives:
        result = results.get(("objective", objective.id))
        unit = objective.unit or next(
            (f.unit for f in plan.success_factors if f.metric == objective.metric), None
        )
        nodes.append(
            _target_node(
                objective.id,
                "objective",
                objective.id.replace("_", " "),
                objective.metric,
                objective.target,
                unit,
                objective.period,
                objective.function,
                result,
            )
        )
        edges += [(factor, objective.id) for factor in objective.supports]
    for initiative in plan.initiatives:
        budget = f"budget {format_value(initiative.budget, 'USD')}" if initiative.budget else ""
        nodes.append(
            MapNode(initiative.id, "initiative", initiative.name, budget, initiative.function)
        )
        edges += [(objective, initiative.id) for objective in initiative.supports]
    lanes = [
        FunctionLane(
            f.id,
            f.name,
            f.purpose or "",
            [s.name for s in plan.lifecycle.stages if s.owner == f.id and s.exit is None],
        )
        for f in plan.functions
    ]
    known = {n.id for n in nodes}
    return MissionMap(
        f"{plan.company}: mission map",
        nodes,
        [(a, b) for a, b in edges if a in known and b in known],
        lanes,
    )


def _target_node(
    node_id: str,
    kind: NodeKind,
    label: str,
    metric: str,
    target: float,
    unit: str | None,
    period: str,
    function: str | None,
    result: Attainment | None,
) -> MapNode:
    detail = f"{metric}: target {format_value(target, unit)} per {period}"
    if result is not None and result.actual is not None:
        detail += f" · actual {format_value(result.actual, unit)}"
    return MapNode(
        node_id,
        kind,
        label,
        detail,
        function,
        result.status if result else None,
        result.actual if result else None,
        target,
        unit,
    )
