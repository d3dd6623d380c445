"""Engine aggregates behind the measured assumptions (each one small once aggregated).

* :func:`step_cohorts`: for each ladder step, the records whose first entry into the step's
  stage falls in the window, by segment, month of entry and whole days to the next stage
  (null when not reached: the funnel's cohort conversion, the first next-stage entry at or
  after the entry, following people to their opportunities).
* :func:`side_entries`: for each step, the first entries into the next stage in the window, and
  how many of them came through the step's stage (an entry into it at or before).
* :func:`daily_entries`: first entries per ladder stage, segment and day.
* :func:`won_amounts`: the won deals closed in the window, with their segment and amount.
* :func:`open_days`: opportunities created in the window, by whole days open and closed or not.
* :func:`channel_entries` and :func:`channel_spend`: the first stage's entries by segment and
  source channel, and the owner's spend by channel, in the window (the run rate of scenarios).
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import pandas as pd

from missionline.metrics.portable import count_true
from missionline.metrics.records import Dimension, Records
from missionline.metrics.stays import days_between, first_entries
from missionline.plan.models import Stage

SEGMENT = Dimension("segment", "accounts", "segment")


def _stamp(moment: pd.Timestamp) -> ir.TimestampScalar:
    return ibis.literal(moment.to_pydatetime(), type="timestamp")


def _between(column: ir.TimestampValue, start: pd.Timestamp, end: pd.Timestamp) -> ir.BooleanValue:
    return (column >= _stamp(start)) & (column < _stamp(end))


def _linked(tables: dict[str, ir.Table], rows: ir.Table, source: str, target: str) -> ir.Table:
    """``rows`` (records of type ``source``) with ``_to``: the linked record of type ``target``."""
    if source == target:
        return rows.mutate(_to=rows.record_id)
    link = Records(tables).link(source, target)
    if link is None:
        return rows.mutate(_to=ibis.null("string"))
    joined = rows.left_join(link, rows.record_id == link.from_id)
    return joined.mutate(_to=joined.to_id).drop("from_id", "to_id")


def _segmented(tables: dict[str, ir.Table], rows: ir.Table, record_type: str) -> ir.Table:
    return Records(tables).attach(rows, record_type, [SEGMENT])


def step_cohorts(
    tables: dict[str, ir.Table],
    steps: list[tuple[Stage, Stage]],
    start: pd.Timestamp,
    end: pd.Timestamp,
) -> pd.DataFrame:
    """Entries per step, segment, entry month and whole days to the next stage (null: not yet).

    The same records and the same reach as the funnel's cohort basis (a test holds them equal),
    measured in one pass with the lag of every conversion.
    """
    events = tables["stage_events"]
    parts = []
    for stage, nxt in steps:
        entries = first_entries(events, stage, owner=False)
        entries = entries.filter(_between(entries.entered_at, start, end))
        linked = _linked(tables, entries, stage.record_type, nxt.record_type)
        later = events.filter(events.stage == nxt.id).select(
            _nid=events.record_id, _nat=events.entered_at
        )
        joined = linked.left_join(
            later, [linked._to == later._nid, later._nat >= linked.entered_at]
        )
        reached = joined.group_by(["record_id", "entered_at"]).agg(reached_at=joined._nat.min())
        reached = _segmented(tables, reached, stage.record_type)
        days = days_between(reached.entered_at, reached.reached_at).floor().cast("int64")
        keyed = reached.mutate(
            step=ibis.literal(stage.id),
            month=reached.entered_at.truncate("M").date(),
            days=days,
        )
        parts.append(keyed.group_by(["step", "segment", "month", "days"]).agg(n=keyed.count()))
    frame = _frame(parts, ["step", "segment", "month", "days", "n"])
    frame["month"] = pd.to_datetime(frame["month"])
    return frame


def side_entries(
    tables: dict[str, ir.Table],
    steps: list[tuple[Stage, Stage]],
    start: pd.Timestamp,
    end: pd.Timestamp,
) -> pd.DataFrame:
    """First entries into each step's next stage in the window, and those that came through."""
    events = tables["stage_events"]
    parts = []
    for stage, nxt in steps:
        entries = first_entries(events, nxt, owner=False)
        entries = entries.filter(_between(entries.entered_at, start, end))
        linked = _linked(tables, entries, nxt.record_type, stage.record_type)
        before = events.filter(events.stage == stage.id).select(
            _bid=events.record_id, _bat=events.entered_at
        )
        joined = linked.left_join(
            before, [linked._to == before._bid, before._bat <= linked.entered_at]
        )
        came = joined.group_by("record_id").agg(_came=joined._bid.notnull().any())
        came = _segmented(tables, came, nxt.record_type)
        parts.append(
            came.group_by("segment").agg(
                step=ibis.literal(stage.id),
                entries=came.count(),
                came_through=count_true(came._came),
            )
        )
    return _frame(parts, ["step", "segment", "entries", "came_through"])


def daily_entries(tables: dict[str, ir.Table], stages: list[Stage]) -> pd.DataFrame:
    """First entries per stage, segment and day (the day's midnight)."""
    events = tables["stage_events"]
    parts = []
    for stage in stages:
        entries = _segmented(tables, first_entries(events, stage, owner=False), stage.record_type)
        keyed = entries.mutate(stage=ibis.literal(stage.id), day=entries.entered_at.date())
        parts.append(keyed.group_by(["stage", "segment", "day"]).agg(entries=keyed.count()))
    frame = _frame(parts, ["stage", "segment", "day", "entries"])
    frame["day"] = pd.to_datetime(frame["day"])
    return frame


def won_amounts(
    tables: dict[str, ir.Table], start: pd.Timestamp, end: pd.Timestamp
) -> pd.DataFrame:
    """Won deals closed in [start, end): segment and amount (null amounts left out)."""
    opps = tables["opportunities"]
    won = opps.filter(
        (opps.status == "won") & _between(opps.closed_at, start, end) & opps.amount.notnull()
    )
    rows = _segmented(
        tables, won.select(record_id=won.opportunity_id, amount=won.amount), "opportunity"
    )
    return rows.select("segment", "amount").to_pandas()


def open_days(tables: dict[str, ir.Table], start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Opportunities created in [start, end) by whole days open (to close, or to ``end``)."""
    opps = tables["opportunities"]
    made = opps.filter(_between(opps.created_at, start, end))
    closed = (
        made.status.isin(["won", "lost"])
        & made.closed_at.notnull()
        & (made.closed_at < _stamp(end))
    )
    until = closed.ifelse(made.closed_at, _stamp(end))
    days = days_between(made.created_at, until).floor().cast("int64").clip(lower=0)
    rows = made.mutate(days=days, closed=closed)
    return rows.group_by(["days", "closed"]).agg(n=rows.count()).to_pandas()


def _frame(parts: list[ir.Table], columns: list[str]) -> pd.DataFrame:
    """Run the union of ``parts`` (an empty frame with ``columns`` when there are none)."""
    if not parts:
        return pd.DataFrame(columns=columns)
    return ibis.union(*parts).to_pandas()[columns]


def channel_entries(
    tables: dict[str, ir.Table], stage: Stage, start: pd.Timestamp, end: pd.Timestamp
) -> pd.DataFrame:
    """First entries into ``stage`` in [start, end) by segment and source channel."""
    entries = first_entries(tables["stage_events"], stage, owner=False)
    entries = entries.filter(_between(entries.entered_at, start, end))
    channel = Dimension("channel", "people", "source_channel")
    rows = Records(tables).attach(entries, stage.record_type, [SEGMENT, channel])
    return rows.group_by(["segment", "channel"]).agg(entries=rows.count()).to_pandas()


def channel_spend(
    tables: dict[str, ir.Table],
    function: str,
    channels: dict[str, str],
    start: pd.Timestamp,
    end: pd.Timestamp,
) -> pd.DataFrame:
    """The function's spend by ``period_start`` in [start, end), by channel.

    A row without a channel takes its initiative's channel from ``channels`` (initiative id ->
    channel, from the plan), as in :mod:`missionline.metrics.inputs`.
    """
    spend = tables["spend"]
    spend = spend.filter((spend.function == function) & _between(spend.period_start, start, end))
    mapped = (
        spend.initiative_id.substitute(channels, else_=ibis.null("string"))
        if channels
        else ibis.null("string")
    )
    rows = spend.mutate(channel=spend.channel.fill_null(mapped))
    return rows.group_by("channel").agg(spend=rows.amount.sum()).to_pandas()
