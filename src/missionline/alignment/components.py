"""What every alignment-index component shares: its result, the window it scores, the context.

A component scores one aspect of alignment from 0 to 100. Its ``records`` are the rows behind
the score (per stage, segment, owner, initiative, objective or statement), each with ``lost``:
the points of the component's score that row costs. Each breakdown (the rows of one ``kind``;
for the definition checklist, all its rows) adds up to 100 - score, so the drivers can say
which segment, owner or initiative pulls the index down.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import ibis.expr.types as ir
import pandas as pd

from missionline.data.schema import Table
from missionline.plan.models import Plan
from missionline.plan.models_alignment import DEFAULT_WEIGHTS

RECORD_COLUMNS = ["kind", "id", "lost", "detail", "advice"]
NONE_LABEL = "(none)"


@dataclass(frozen=True)
class Component:
    """One component's score (None when not measured), weight, inputs and records."""

    id: str
    score: float | None
    weight: float
    measured: bool
    inputs: dict[str, Any]
    records: pd.DataFrame | None
    advice: str


@dataclass(frozen=True)
class Window:
    """The period a component scores: [start, end), or all the data when both are None."""

    start: dt.date | None = None
    end: dt.date | None = None


@dataclass
class Context:
    """The workspace's tables and plan, the trend's period, and metric frames computed once.

    With ``period``, metric frames carry a ``period`` column and every window of the trend
    reads its rows from the same frame, so each metric runs once for the whole trend.
    """

    tables: dict[str, ir.Table]
    schema: dict[str, Table]
    plan: Plan
    period: str | None = None
    _frames: dict[Hashable, Any] = field(default_factory=dict)

    def weight(self, component: str) -> float:
        """The component's weight: the plan's ``alignment.weights``, else the default."""
        spec = self.plan.alignment
        return spec.weight(component) if spec is not None else DEFAULT_WEIGHTS[component]

    def cached(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """Compute a value once per context."""
        if key not in self._frames:
            self._frames[key] = compute()
        return self._frames[key]

    def rows(self, frame: pd.DataFrame, window: Window) -> pd.DataFrame:
        """The rows of a metric frame that belong to the window (all rows without a period)."""
        if window.start is None or "period" not in frame.columns:
            return frame
        return frame[frame["period"] == window.start]


def unmeasured(component: str, ctx: Context, reason: str, advice: str) -> Component:
    """A component without data: no score, the reason in its inputs, how to measure it."""
    return Component(
        component, None, ctx.weight(component), False, {"reason": reason}, None, advice
    )


def mean_score(parts: Sequence[float | None]) -> float | None:
    """100 * the mean of the measured parts (each a share from 0 to 1)."""
    present = [p for p in parts if p is not None]
    return 100.0 * sum(present) / len(present) if present else None


def share(part: float, whole: float) -> float | None:
    """part ÷ whole, None when the whole is 0."""
    return part / whole if whole else None


def label(value: Any) -> str:
    """A dimension value as text; missing values read ``(none)``."""
    return NONE_LABEL if value is None or pd.isna(value) else str(value)


def records(rows: list[dict[str, Any]], extra: Sequence[str] = ()) -> pd.DataFrame:
    """A records frame with the standard columns first, worst rows first within each kind."""
    frame = pd.DataFrame(rows, columns=[*RECORD_COLUMNS, *extra])
    frame["lost"] = frame["lost"].astype("float64")
    kinds = {k: i for i, k in enumerate(dict.fromkeys(frame["kind"]))}
    frame["_kind"] = frame["kind"].map(kinds)
    frame = frame.sort_values(["_kind", "lost"], ascending=[True, False], kind="stable")
    return frame.drop(columns="_kind").reset_index(drop=True)


def plain(value: Any) -> Any:
    """A JSON-ready number: NumPy scalars as Python ones, NaN as None."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value
