"""Calendar periods for grouping: month, quarter, week, year (UTC)."""

from __future__ import annotations

from typing import Literal

import ibis.expr.types as ir

from missionline.errors import MissionlineError

Period = Literal["week", "month", "quarter", "year"]
PERIODS: tuple[str, ...] = ("week", "month", "quarter", "year")
_UNITS = {"week": "W", "month": "M", "quarter": "Q", "year": "Y"}


def period_start(ts: ir.TimestampValue, period: str) -> ir.DateValue:
    """Return the first day of the period containing ``ts``."""
    if period not in _UNITS:
        raise MissionlineError(f"unknown period {period!r}; use one of {', '.join(PERIODS)}")
    return ts.truncate(_UNITS[period]).date()


def parse_duration_days(text: str) -> float:
    """Parse a window such as ``90d``, ``12w``, ``36h`` into days."""
    units = {"d": 1.0, "w": 7.0, "h": 1 / 24}
    text = text.strip().lower()
    try:
        return float(text[:-1]) * units[text[-1]]
    except (KeyError, ValueError, IndexError):
        raise MissionlineError(
            f"invalid duration {text!r}; write a number and a unit, e.g. 90d, 12w or 36h"
        ) from None
