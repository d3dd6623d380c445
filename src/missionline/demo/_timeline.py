"""The demo's time axis: float days since the start, month and quarter boundaries, timestamps.

The generator works in float64 days since ``start`` (midnight UTC) because vectorised lags add
up cheaply; timestamps are produced only when the tables are assembled.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
import pyarrow as pa

from missionline.demo._params import BoolArr, FloatArr, IntArr

_EPOCH = datetime(1970, 1, 1)
# Month and quarter boundaries reach this far past the window so that post-window lags
# (which are later censored) still find their month and quarter end.
_HORIZON_MONTHS = 60


def add_months(d: date, months: int) -> date:
    """Return the same day-of-month ``months`` later, clipped to the month's last day."""
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True)
class Timeline:
    """The window [start, start + months) in days, with month and quarter boundaries."""

    start: date
    months: int
    month_start: FloatArr  # day offset of month k (k = 0 .. months + horizon)
    calendar_month: IntArr  # 1..12 for month k
    quarter_start: FloatArr  # day offsets of calendar quarter starts (Jan/Apr/Jul/Oct 1)
    end: float  # day offset of the window end (exclusive)

    @classmethod
    def build(cls, start: date, months: int) -> Timeline:
        """Build the timeline of a window of ``months`` months beginning at ``start``."""
        ks = range(months + _HORIZON_MONTHS + 1)
        month_start = np.array([(add_months(start, k) - start).days for k in ks], dtype=float)
        cal = np.array([add_months(start, k).month for k in ks], dtype=np.int64)
        q0 = date(start.year, 3 * ((start.month - 1) // 3) + 1, 1)
        quarters = [add_months(q0, 3 * k) for k in range((months + _HORIZON_MONTHS) // 3 + 2)]
        quarter_start = np.array([(q - start).days for q in quarters], dtype=float)
        return cls(start, months, month_start, cal, quarter_start, float(month_start[months]))

    def month_of(self, t: FloatArr) -> IntArr:
        """Return the month index of each time, clipped to the modelled horizon."""
        k = np.searchsorted(self.month_start, t, side="right") - 1
        return np.asarray(np.clip(k, 0, len(self.month_start) - 2), dtype=np.int64)

    def in_month(self, rng: np.random.Generator, month: IntArr) -> FloatArr:
        """Draw a uniformly random time inside each given month."""
        lo = self.month_start[month]
        return lo + rng.random(len(month)) * (self.month_start[month + 1] - lo)

    def next_quarter_start(self, t: FloatArr) -> FloatArr:
        """Return the start of the calendar quarter following each time's quarter."""
        k = np.searchsorted(self.quarter_start, t, side="right")
        return self.quarter_start[np.clip(k, 0, len(self.quarter_start) - 1)]

    def timestamps(self, t: FloatArr, valid: BoolArr | None = None) -> pa.Array:
        """Convert day offsets to a naive UTC ``timestamp[us]`` array, floored to the second."""
        base = (
            int(
                (
                    datetime(self.start.year, self.start.month, self.start.day) - _EPOCH
                ).total_seconds()
            )
            * 1_000_000
        )
        tt = np.nan_to_num(t, nan=0.0)
        us = base + np.floor(tt * 86_400.0).astype(np.int64) * 1_000_000
        mask = None if valid is None else ~valid
        return pa.array(us, type=pa.int64(), mask=mask).cast(pa.timestamp("us"))
