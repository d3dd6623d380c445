"""Inputs against outputs: spend and activities per stage entry, rep capacity, CAC, magic number.

Definitions (the choices PRODUCT.md leaves open):

* :func:`inputs`, per main-path stage and group: ``entries`` are the records that entered the
  stage (first entry per record; with ``period``, per record and period of entry);
  ``spend`` is the group's spend (all functions; with ``period``, by the period of the spend
  row's ``period_start``, not pro-rated); ``cost_per_entry`` = spend ÷ entries. ``touches``
  (marketing touches) and ``sales_activities`` (sales touches) are counted the same way (by the
  period of ``at``), with ``touches_per_entry`` and ``sales_activities_per_entry``: at the
  opportunity stage these are the activities per opportunity, at the won stage per win.
  Touches of other functions are in neither count.
* Groups (``by``: ``channel``, ``initiative``, ``message``, ``segment``, ``market``). An entry
  belongs to its person's ``source_channel`` and ``first_initiative_id`` (the initiative's
  message from the plan) and to its account's segment and market; an opportunity reaches them
  through its person and account, and account stages have no channel or initiative. A spend row
  belongs to its own channel and initiative; spend booked to an initiative without a channel
  takes the initiative's channel from the plan, and its segment and market are those of the
  initiative's message in the plan. A touch belongs to the record it touched, like an entry:
  its person's channel, initiative and message, and the segment and market of its person's
  account (else of the touch's own account), so activities and entries count one population.
* Spend that cannot be attributed (no channel and no initiative with one, e.g. sales salaries)
  lands in the group whose value is null, beside the entries that have no value either; the
  two are unrelated, so the per-entry ratios of a group with a null value are left null. A
  group without spend has spend 0 and a cost per entry of 0.
* :func:`capacity`: per owner with a capacity (and every owner with open deals), the deals open
  at ``as_of`` (see :mod:`missionline.metrics.pipeline`) ÷ capacity; open deals without an
  owner are one row with a null owner.
* :func:`efficiency`, per period: ``spend`` = marketing + sales spend (rows whose function is
  ``marketing`` or ``sales``, by the period of ``period_start``); ``new_customers`` = accounts
  whose first won deal closed in the period (won deals without an account are not customers);
  ``cac`` = spend ÷ new customers. Opportunity amounts are taken as annual contract values, so
  ``new_bookings`` (won, kind ``new``) + ``expansion_bookings`` (won, kind ``expansion``;
  renewals are not new) are the new annualised bookings; ``magic_number`` = those bookings ÷
  the previous calendar period's spend (null for the first period or after a period without
  spend).
"""

from __future__ import annotations

from collections.abc import Sequence

import ibis
import ibis.expr.types as ir
import pandas as pd

from missionline.data.schema import Table
from missionline.errors import MissionlineError
from missionline.metrics.batch import one_query
from missionline.metrics.periods import period_start
from missionline.metrics.pipeline import (
    AsOf,
    calendar_periods,
    check_period,
    open_at,
    resolve_as_of,
    timestamp,
)
from missionline.metrics.portable import count_true
from missionline.metrics.records import Records, resolve_dimension
from missionline.plan.models import Plan

DIMENSIONS = ("channel", "initiative", "message", "segment", "market")
COLUMNS = [
    "stage",
    "entries",
    "spend",
    "cost_per_entry",
    "touches",
    "touches_per_entry",
    "sales_activities",
    "sales_activities_per_entry",
]
CAPACITY_COLUMNS = [
    "owner_id",
    "name",
    "function",
    "team",
    "capacity",
    "open_opportunities",
    "open_amount",
    "capacity_use",
]
EFFICIENCY_COLUMNS = [
    "period",
    "marketing_spend",
    "sales_spend",
    "spend",
    "new_customers",
    "cac",
    "new_bookings",
    "expansion_bookings",
    "previous_spend",
    "magic_number",
]


def _initiative_maps(plan: Plan) -> dict[str, dict[str, str]]:
    """Initiative id -> its channel, message, and the message's segment and market."""
    messages = {m.id: m for m in plan.messages}
    maps: dict[str, dict[str, str]] = {"channel": {}, "message": {}, "segment": {}, "market": {}}
    for initiative in plan.initiatives:
        if initiative.channel:
            maps["channel"][initiative.id] = initiative.channel
        message = messages.get(initiative.message or "")
        if message is None:
            continue
        maps["message"][initiative.id] = message.id
        if message.segment:
            maps["segment"][initiative.id] = message.segment
        if message.market:
            maps["market"][initiative.id] = message.market
    return maps


def _mapped(initiative: ir.StringValue, mapping: dict[str, str]) -> ir.StringValue:
    """The plan's value for an initiative id (null when the plan gives none)."""
    if not mapping:
        return ibis.null("string")
    return initiative.substitute(mapping, else_=ibis.null("string"))


def spend_dimension(spend: ir.Table, plan: Plan, name: str) -> ir.StringValue:
    """The value of dimension ``name`` (initiative, channel, message, segment or market) each
    spend row is attributed to: its own channel, else its initiative's in the plan."""
    if name == "initiative":
        return spend.initiative_id
    attributed = _mapped(spend.initiative_id, _initiative_maps(plan)[name])
    return spend.channel.fill_null(attributed) if name == "channel" else attributed


def _check_dimensions(by: Sequence[str]) -> list[str]:
    """The group names, or a clear error for a dimension spend cannot be split by."""
    for name in by:
        if name not in DIMENSIONS:
            raise MissionlineError(
                f"inputs cannot be grouped by {name!r}; use one of {', '.join(DIMENSIONS)}"
            )
    return list(dict.fromkeys(by))


def _spend_aggregate(
    tables: dict[str, ir.Table], plan: Plan, group: list[str], period: str | None
) -> ir.Table:
    """Spend per group (and period of ``period_start``)."""
    spend = tables["spend"]
    values: dict[str, ir.Value] = {name: spend_dimension(spend, plan, name) for name in group}
    if period:
        values["period"] = period_start(spend.period_start, period)
    rows = spend.select(_amount=spend.amount, **values)
    keys = list(values)
    metrics = {"spend": rows._amount.sum()}
    return rows.group_by(keys).agg(**metrics) if keys else rows.aggregate(**metrics)


def _touch_aggregate(
    tables: dict[str, ir.Table], plan: Plan, group: list[str], period: str | None
) -> ir.Table:
    """Marketing touches and sales activities per group of the touched record (and period)."""
    touches, people, accounts = tables["touches"], tables["people"], tables["accounts"]
    persons = people.select(
        _pid=people.person_id,
        _channel=people.source_channel,
        _initiative=people.first_initiative_id,
        _pacc=people.account_id,
    )
    joined = touches.left_join(persons, touches.person_id == persons._pid)
    joined = joined.mutate(_acc=joined._pacc.fill_null(joined.account_id))
    if {"segment", "market"} & set(group):
        attrs = accounts.select(
            _aid=accounts.account_id, _seg=accounts.segment, _mkt=accounts.market
        )
        joined = joined.left_join(attrs, joined._acc == attrs._aid)
    values: dict[str, ir.Value] = {}
    for name in group:
        if name == "channel":
            values[name] = joined._channel
        elif name == "initiative":
            values[name] = joined._initiative
        elif name == "message":
            values[name] = _mapped(joined._initiative, _initiative_maps(plan)["message"])
        else:
            values[name] = joined._seg if name == "segment" else joined._mkt
    if period:
        values["period"] = period_start(joined.at, period)
    rows = joined.select(_function=joined.function, **values)
    keys = list(values)
    metrics = {
        "touches": count_true(rows._function == "marketing"),
        "sales_activities": count_true(rows._function == "sales"),
    }
    return rows.group_by(keys).agg(**metrics) if keys else rows.aggregate(**metrics)


def _entry_aggregate(
    tables: dict[str, ir.Table],
    schema: dict[str, Table],
    plan: Plan,
    group: list[str],
    period: str | None,
) -> list[ir.Table]:
    """Records entering each main-path stage, per group (and period of entry): a part per
    stage."""
    dims = [resolve_dimension(name, schema, plan) for name in group]
    records = Records(tables)
    events = tables["stage_events"]
    keys = group + (["period"] if period else [])
    parts = []
    for stage in plan.lifecycle.path():
        rows = events.filter(events.stage == stage.id)
        by = [rows.record_id] + (
            [period_start(rows.entered_at, period).name("period")] if period else []
        )
        entries = records.attach(rows.group_by(by).agg(_n=rows.count()), stage.record_type, dims)
        metrics = {"stage": ibis.literal(stage.id), "entries": entries.count()}
        parts.append(
            entries.group_by(keys).agg(**metrics) if keys else entries.aggregate(**metrics)
        )
    return parts


def inputs(
    tables: dict[str, ir.Table],
    schema: dict[str, Table],
    plan: Plan,
    by: Sequence[str] = ("channel",),
    period: str | None = None,
) -> pd.DataFrame:
    """Per main-path stage and group: entries, spend, cost per entry, touches and activities."""
    check_period(period)
    group = _check_dimensions(by)
    keys = group + (["period"] if period else [])
    spend, touches, entries = one_query(
        [_spend_aggregate(tables, plan, group, period)],
        [_touch_aggregate(tables, plan, group, period)],
        _entry_aggregate(tables, schema, plan, group, period),
    )
    entries = entries.reindex(columns=[*keys, "stage", "entries"])
    stages = [s.id for s in plan.lifecycle.path()]
    for frame in (spend, touches, entries):
        if "period" in frame:
            frame["period"] = pd.to_datetime(frame["period"]).dt.date
    if keys:
        combos = pd.concat([f[keys] for f in (spend, touches, entries)]).drop_duplicates()
        out = combos.merge(pd.DataFrame({"stage": stages}), how="cross")
        out = out.merge(entries, on=[*keys, "stage"], how="left")
        out = out.merge(spend, on=keys, how="left").merge(touches, on=keys, how="left")
    else:
        out = pd.DataFrame({"stage": stages}).merge(entries, on="stage", how="left")
        out = out.assign(
            spend=spend["spend"].iloc[0],
            touches=touches["touches"].iloc[0],
            sales_activities=touches["sales_activities"].iloc[0],
        )
    for column in ("entries", "touches", "sales_activities"):
        out[column] = out[column].fillna(0).astype("int64")
    out["spend"] = out["spend"].astype("float64").fillna(0.0)
    attributed = out[group].notna().all(axis=1) if group else pd.Series(True, index=out.index)
    per_entry = out["entries"].where((out["entries"] > 0) & attributed)
    out["cost_per_entry"] = (out["spend"] / per_entry).astype("float64")
    out["touches_per_entry"] = (out["touches"] / per_entry).astype("float64")
    out["sales_activities_per_entry"] = (out["sales_activities"] / per_entry).astype("float64")
    out["_order"] = out["stage"].map({s: i for i, s in enumerate(stages)})
    out = out.sort_values(
        [*keys, "_order"], key=lambda s: s if s.name == "_order" else s.astype(str), kind="stable"
    )
    return out[[*keys, *COLUMNS]].reset_index(drop=True)


def capacity(
    tables: dict[str, ir.Table],
    schema: dict[str, Table],
    plan: Plan,
    as_of: AsOf = None,
) -> pd.DataFrame:
    """Per owner: capacity, deals open at ``as_of`` and their share of the capacity."""
    at = timestamp(resolve_as_of(tables, as_of))
    opps, owners = tables["opportunities"], tables["owners"]
    opened = opps.filter(open_at(opps.created_at, opps.closed_at, opps.status, at))
    load = (
        opened.group_by("owner_id")
        .agg(open_opportunities=opened.count(), open_amount=opened.amount.sum())
        .to_pandas()
    )
    roster = owners.filter(owners.capacity.notnull() | owners.owner_id.isin(opened.owner_id))
    out = (
        roster.select("owner_id", "name", "function", "team", "capacity")
        .to_pandas()
        .merge(load, on="owner_id", how="outer")
    )
    out["open_opportunities"] = out["open_opportunities"].fillna(0).astype("int64")
    out["open_amount"] = out["open_amount"].astype("float64").fillna(0.0)
    room = out["capacity"].astype("float64")
    # whole numbers or None (not pandas' NA, which JSON output cannot carry)
    out["capacity"] = pd.Series(
        [None if pd.isna(c) else int(c) for c in room], index=out.index, dtype=object
    )
    out["capacity_use"] = (out["open_opportunities"] / room.where(room > 0)).astype("float64")
    out = out.sort_values("owner_id", na_position="last", kind="stable")
    return out[CAPACITY_COLUMNS].reset_index(drop=True)


def efficiency(
    tables: dict[str, ir.Table],
    schema: dict[str, Table],
    plan: Plan,
    period: str = "quarter",
) -> pd.DataFrame:
    """Per period: sales and marketing spend, new customers, CAC, new bookings, magic number."""
    check_period(period)
    spend = tables["spend"]
    spend = spend.mutate(period=period_start(spend.period_start, period))
    spent = spend.group_by("period").agg(
        marketing_spend=spend.amount.sum(where=spend.function == "marketing"),
        sales_spend=spend.amount.sum(where=spend.function == "sales"),
    )
    opps = tables["opportunities"]
    won = opps.filter((opps.status == "won") & opps.closed_at.notnull())
    firsts = (
        won.filter(won.account_id.notnull()).group_by("account_id").agg(_first=won.closed_at.min())
    )
    customers = firsts.group_by(period=period_start(firsts._first, period)).agg(
        new_customers=firsts.count()
    )
    booked = won.group_by(period=period_start(won.closed_at, period)).agg(
        new_bookings=won.amount.sum(where=won.kind == "new"),
        expansion_bookings=won.amount.sum(where=won.kind == "expansion"),
    )
    frames = [f.to_pandas() for f in (spent, customers, booked)]
    for frame in frames:
        frame["period"] = pd.to_datetime(frame["period"]).dt.date
    seen = [p for f in frames for p in f["period"]]
    if not seen:
        return pd.DataFrame(columns=EFFICIENCY_COLUMNS)
    spans = calendar_periods(pd.Timestamp(min(seen)), pd.Timestamp(max(seen)), period)
    out = pd.DataFrame({"period": [start for start, _ in spans]})
    for frame in frames:
        out = out.merge(frame, on="period", how="left")
    for column in ("marketing_spend", "sales_spend", "new_bookings", "expansion_bookings"):
        out[column] = out[column].astype("float64").fillna(0.0)
    out["new_customers"] = out["new_customers"].fillna(0).astype("int64")
    out["spend"] = out["marketing_spend"] + out["sales_spend"]
    out["cac"] = out["spend"] / out["new_customers"].where(out["new_customers"] > 0)
    out["previous_spend"] = out["spend"].shift(1)
    bookings = out["new_bookings"] + out["expansion_bookings"]
    out["magic_number"] = bookings / out["previous_spend"].where(out["previous_spend"] > 0)
    for column in ("cac", "previous_spend", "magic_number"):
        out[column] = out[column].astype("float64")
    return out[EFFICIENCY_COLUMNS]
