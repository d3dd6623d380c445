"""Linkage: is the work connected to the mission? Initiatives, budget and spend per outcome.

An initiative reaches a success factor through the objectives it supports. Its budget and
spend are split equally over the success factors it reaches, so the per-factor totals add up
to the linked total (documented in docs/plan.md).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

from missionline.plan.models import Plan


@dataclass(frozen=True)
class LinkRow:
    """Initiatives, budget and spend serving one success factor or one function."""

    id: str
    name: str
    initiatives: list[str]
    budget: float
    spend: float


@dataclass(frozen=True)
class Linkage:
    """The linkage report."""

    success_factors: list[LinkRow]
    functions: list[LinkRow]
    orphan_initiatives: list[str]
    unowned_outcomes: list[str]
    total_spend: float
    initiative_spend: float
    unlinked_spend: float
    unlinked_initiative_spend: float
    notes: list[str] = field(default_factory=list)

    @property
    def unlinked_spend_share(self) -> float | None:
        """Share of all spend with no line to a success factor."""
        return _share(self.unlinked_spend, self.total_spend)

    @property
    def unlinked_initiative_spend_share(self) -> float | None:
        """Share of spend booked to initiatives that reach no success factor."""
        return _share(self.unlinked_initiative_spend, self.initiative_spend)


def _share(part: float, whole: float) -> float | None:
    """part ÷ whole, rounded so that float noise in sums shows as 0, not 1e-16."""
    return round(part / whole, 12) if whole else None


def outcomes_of(plan: Plan) -> dict[str, set[str]]:
    """The success factors each initiative reaches through its objectives."""
    objective_factors = {o.id: set(o.supports) for o in plan.objectives}
    factors = {f.id for f in plan.success_factors}
    return {
        i.id: {f for o in i.supports for f in objective_factors.get(o, set()) if f in factors}
        for i in plan.initiatives
    }


def linkage(
    plan: Plan, spend_by_initiative: Mapping[str | None, float], total_spend: float | None = None
) -> Linkage:
    """Compute the linkage report from the plan and the spend per initiative id (None: none)."""
    reached = outcomes_of(plan)
    by_factor: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    members: dict[str, list[str]] = defaultdict(list)
    for initiative in plan.initiatives:
        spent = float(spend_by_initiative.get(initiative.id, 0.0))
        factors = sorted(reached[initiative.id])
        for factor in factors:
            by_factor[factor][0] += (initiative.budget or 0.0) / len(factors)
            by_factor[factor][1] += spent / len(factors)
            members[factor].append(initiative.id)
    factor_rows = [
        LinkRow(f.id, f.name, members[f.id], by_factor[f.id][0], by_factor[f.id][1])
        for f in plan.success_factors
    ]
    function_rows = []
    for function in plan.functions:
        own = [i for i in plan.initiatives if i.function == function.id]
        function_rows.append(
            LinkRow(
                function.id,
                function.name,
                [i.id for i in own],
                sum(i.budget or 0.0 for i in own),
                sum(float(spend_by_initiative.get(i.id, 0.0)) for i in own),
            )
        )
    planned = {i.id for i in plan.initiatives}
    initiative_spend = sum(v for k, v in spend_by_initiative.items() if k is not None)
    linked = sum(float(spend_by_initiative.get(i, 0.0)) for i, f in reached.items() if f)
    total = float(total_spend if total_spend is not None else sum(spend_by_initiative.values()))
    notes = [
        f"spend booked to initiative '{k}', which the plan does not declare"
        for k in spend_by_initiative
        if k is not None and k not in planned
    ]
    served = {f for o in plan.objectives for f in o.supports}
    return Linkage(
        factor_rows,
        function_rows,
        orphan_initiatives=[i for i, f in reached.items() if not f],
        unowned_outcomes=[f.id for f in plan.success_factors if f.id not in served],
        total_spend=total,
        initiative_spend=initiative_spend,
        unlinked_spend=total - linked,
        unlinked_initiative_spend=initiative_spend - linked,
        notes=notes,
    )
