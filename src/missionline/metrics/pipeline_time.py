"""When the pipeline is measured: the as-of instant, calendar periods and the snapshots at
their ends, and whether a deal is open at an instant (definitions in
:mod:`missionline.metrics.pipeline`)."""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir
import pandas as pd

from missionline.errors import MissionlineError
from missionline.metrics.periods import PERIODS

FREQUENCIES = {"week": "W-SUN", "month": "M", "quarter": "Q-DEC", "year": "Y-DEC"}
MONTHS = {"month": 1, "quarter": 3, "year": 12}
AsOf = str | dt.date | pd.Timestamp | None


def check_period(period: str | None) -> None:
    """Raise a clear error for a period name that is not week, month, quarter or year."""
    if period is not None and period not in FREQUENCIES:
        raise MissionlineError(f"unknown period {period!r}; use one of {', '.join(PERIODS)}")


def resolve_as_of(tables: dict[str, ir.Table], as_of: AsOf = None) -> pd.Timestamp:
    """The measurement instant: ``as_of`` (a date is its midnight UTC) or the end of the data."""
    if as_of is not None:
        try:
            stamp = pd.Timestamp(as_of)
        except (ValueError, TypeError):
            stamp = None
        if stamp is None or pd.isna(stamp):
            raise MissionlineError(f"invalid as-of {as_of!r}; write a date such as 2025-06-30")
        return stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo else stamp
    opps, events = tables["opportunities"], tables["stage_events"]
    closed = opps.filter(opps.status.isin(["won", "lost"]))
    latest = ibis.union(
        opps.select(t=opps.created_at),
        closed.select(t=closed.closed_at),
        events.select(t=events.entered_at),
    ).t.max()
    value = latest.execute()
    if value is None or pd.isna(value):  # no data at all: the end of today
        value = pd.Timestamp.now(tz="UTC").tz_localize(None)
    return pd.Timestamp(value).normalize() + pd.Timedelta(days=1)


def timestamp(stamp: pd.Timestamp) -> ir.TimestampScalar:
    """An Ibis timestamp literal for a (naive UTC) pandas timestamp."""
    return ibis.literal(stamp.to_pydatetime(), type="timestamp")


def open_at(
    created: ir.TimestampValue, closed: ir.TimestampValue, status: ir.StringValue, at: ir.Value
) -> ir.BooleanValue:
    """True for a deal open at instant ``at``: created before it, and open or closed at/after it."""
    return (created < at) & ((status == "open") | (closed.notnull() & (closed >= at)))


def calendar_periods(
    first: pd.Timestamp, last: pd.Timestamp, period: str
) -> list[tuple[dt.date, pd.Timestamp]]:
    """Each period from the one containing ``first`` to the one containing ``last``: start, end."""
    check_period(period)
    index = pd.period_range(first, last, freq=FREQUENCIES[period])
    return [(p.start_time.date(), (p + 1).start_time) for p in index]


def snapshots(
    tables: dict[str, ir.Table], period: str | None, as_of: pd.Timestamp
) -> pd.DataFrame | None:
    """``(period, _snap)``: each period's end (``as_of`` for the last); None without a period."""
    if period is None:
        return None
    opps = tables["opportunities"]
    first = opps.filter(opps.created_at < timestamp(as_of)).created_at.min().execute()
    if first is None or pd.isna(first):
        return pd.DataFrame(
            {"period": pd.Series(dtype=object), "_snap": pd.Series(dtype="datetime64[us]")}
        )
    last = as_of - pd.Timedelta(microseconds=1)
    spans = calendar_periods(pd.Timestamp(first), last, period)
    return pd.DataFrame(
        {
            "period": pd.Series([start for start, _ in spans], dtype=object),
            "_snap": pd.Series([min(end, as_of) for _, end in spans], dtype="datetime64[us]"),
        }
    )
