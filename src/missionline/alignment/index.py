"""The alignment index: a weighted mean of 0-100 components, its coverage, trend and drivers.

* ``index`` = Σ weight * score ÷ Σ weight over the **measured** components; a component
  without data is ``measured: false`` and left out, never counted as zero.
* ``coverage`` = the measured components' share of the total weight.
* ``drivers``: for each measured component that costs points, its *impact* — the index points
  it costs, weight ÷ measured weight * (100 - score) — then its rows (stages, segments,
  owners, initiatives, objectives, statements) that cost the most, each with the points it
  costs and what to do. Rows of different kinds overlap (a segment's and an owner's late
  hand-offs may be the same ones), so impacts add up within a kind, not across kinds.
* A trend (``period``) scores each calendar period from the first to the last stage entry.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import ibis.expr.types as ir
import pandas as pd

from missionline.alignment.components import Component, Context, Window, plain
from missionline.alignment.components_outcomes import (
    perception_component,
    shared_outcomes_component,
)
from missionline.alignment.components_plan import (
    coherence_component,
    definition_component,
    linkage_component,
)
from missionline.alignment.components_process import (
    conformance_component,
    feedback_component,
    handoff_component,
)
from missionline.data.importer import Progress
from missionline.data.schema import Table
from missionline.errors import MissionlineError
from missionline.metrics.periods import PERIODS
from missionline.plan.models import Plan

Scorer = Callable[[Context, Window], Component]
# The registry: every component of the index, in the order they are shown.
COMPONENTS: list[tuple[str, Scorer]] = [
    ("definition", definition_component),
    ("conformance", conformance_component),
    ("handoff", handoff_component),
    ("feedback_loop", feedback_component),
    ("mission_linkage", linkage_component),
    ("target_coherence", coherence_component),
    ("shared_outcomes", shared_outcomes_component),
    ("perception", perception_component),
]
ROWS_PER_DRIVER = 3  # the costliest rows listed under each component
DRIVER_COLUMNS = ["component", "kind", "id", "impact", "detail", "advice"]
_OFFSETS = {"week": pd.DateOffset(weeks=1), "month": pd.DateOffset(months=1)}
_OFFSETS |= {"quarter": pd.DateOffset(months=3), "year": pd.DateOffset(years=1)}


@dataclass(frozen=True)
class AlignmentIndex:
    """The index for one window: its value, coverage, components and drivers."""

    index: float | None
    coverage: float | None
    period: dt.date | None
    components: list[Component]
    drivers: pd.DataFrame

    def as_json(self) -> dict[str, Any]:
        """The JSON contract: index, coverage, period, components (id, score, weight, measured,
        inputs) and drivers (component, kind, id, impact, detail, advice)."""
        return {
            "index": self.index,
            "coverage": self.coverage,
            "period": self.period.isoformat() if self.period else None,
            "components": [
                {
                    "id": c.id,
                    "score": c.score,
                    "weight": c.weight,
                    "measured": c.measured,
                    "inputs": {k: _json_value(v) for k, v in c.inputs.items()},
                }
                for c in self.components
            ],
            "drivers": [
                {k: plain(v) for k, v in row.items()}
                for row in self.drivers.to_dict(orient="records")
            ],
        }

    def component(self, component_id: str) -> Component:
        """The component with this id."""
        for c in self.components:
            if c.id == component_id:
                return c
        known = ", ".join(c.id for c in self.components)
        raise MissionlineError(f"unknown alignment component {component_id!r}; use one of {known}")


def _json_value(value: Any) -> Any:
    if isinstance(value, list):
        return [plain(v) for v in value]
    return plain(value)


def drivers(components: Sequence[Component]) -> pd.DataFrame:
    """Each component that costs index points, then its costliest rows, worst component first."""
    measured = [c for c in components if c.measured and c.score is not None and c.weight > 0]
    total = sum(c.weight for c in measured)
    rows: list[dict[str, Any]] = []
    ranked = sorted(measured, key=lambda c: c.weight * (100 - (c.score or 0)), reverse=True)
    for c in ranked:
        share = c.weight / total
        impact = share * (100.0 - (c.score or 0.0))
        if impact <= 0:
            continue
        detail = f"score {c.score:.0f} of 100, weight {c.weight:g}"
        rows.append(
            {
                "component": c.id,
                "kind": "component",
                "id": c.id,
                "impact": impact,
                "detail": detail,
                "advice": c.advice,
            }
        )
        if c.records is None:
            continue
        costly = c.records[c.records["lost"] > 0].sort_values(
            "lost", ascending=False, kind="stable"
        )
        for r in costly.head(ROWS_PER_DRIVER).to_dict(orient="records"):
            rows.append(
                {
                    "component": c.id,
                    "kind": r["kind"],
                    "id": r["id"],
                    "impact": share * float(r["lost"]),
                    "detail": r["detail"],
                    "advice": r["advice"],
                }
            )
    return pd.DataFrame(rows, columns=DRIVER_COLUMNS)


def _score(
    ctx: Context,
    window: Window,
    components: Sequence[tuple[str, Scorer]],
    tick: Callable[[], None],
) -> AlignmentIndex:
    scored = []
    for _, scorer in components:
        scored.append(scorer(ctx, window))
        tick()
    weight = sum(c.weight for c in scored)
    measured = [c for c in scored if c.measured and c.score is not None]
    measured_weight = sum(c.weight for c in measured)
    index = (
        sum(c.weight * (c.score or 0.0) for c in measured) / measured_weight
        if measured_weight
        else None
    )
    coverage = measured_weight / weight if weight else None
    return AlignmentIndex(index, coverage, window.start, scored, drivers(scored))


def _ticker(progress: Progress | None, steps: int) -> Callable[[], None]:
    done = [0]

    def tick() -> None:
        done[0] += 1
        if progress is not None:
            progress("scoring the alignment index", done[0] / steps)

    return tick


def alignment_index(
    tables: dict[str, ir.Table],
    schema: dict[str, Table],
    plan: Plan,
    progress: Progress | None = None,
    components: Sequence[tuple[str, Scorer]] | None = None,
) -> AlignmentIndex:
    """The alignment index over all the data, with every component and the drivers."""
    chosen = COMPONENTS if components is None else components
    ctx = Context(tables, schema, plan)
    return _score(ctx, Window(), chosen, _ticker(progress, len(chosen)))


def trend_periods(tables: dict[str, ir.Table], period: str) -> list[Window]:
    """Every calendar period from the first to the last stage entry, as windows."""
    if period not in PERIODS:
        raise MissionlineError(f"unknown period {period!r}; use one of {', '.join(PERIODS)}")
    events = tables["stage_events"]
    bounds = events.aggregate(first=events.entered_at.min(), last=events.entered_at.max())
    first, last = bounds.to_pandas().iloc[0]
    if pd.isna(first):
        return []
    freq = {"week": "W-SUN", "month": "M", "quarter": "Q", "year": "Y"}[period]
    spans = pd.period_range(pd.Timestamp(first), pd.Timestamp(last), freq=freq)
    return [Window(s.start_time.date(), (s.start_time + _OFFSETS[period]).date()) for s in spans]


def alignment_trend(
    tables: dict[str, ir.Table],
    schema: dict[str, Table],
    plan: Plan,
    period: str,
    progress: Progress | None = None,
    components: Sequence[tuple[str, Scorer]] | None = None,
) -> list[AlignmentIndex]:
    """The index per calendar period (each metric runs once, grouped by period)."""
    chosen = COMPONENTS if components is None else components
    windows = trend_periods(tables, period)
    ctx = Context(tables, schema, plan, period)
    tick = _ticker(progress, len(windows) * len(chosen))
    return [_score(ctx, w, chosen, tick) for w in windows]
