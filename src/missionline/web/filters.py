"""Dashboard filters (period, market, segment, channel, owner), applied in the engine.

A filter narrows the canonical tables before any metric runs, with Ibis predicates built from
the values (never SQL text), so every number, chart and reading on a page describes the same
population and every metric is the library's own. The rules (also in docs/web.md):

* **market**, **segment** (columns of ``accounts``): the accounts with that value, the people
  and opportunities of those accounts, and everything that happened to them.
* **channel** (``people.source_channel``): the people from that channel, their opportunities,
  and the accounts of those people and opportunities, so a conversion into an account stage
  (customer) is still seen.
* **owner** (an ``owner_id``): the records with a stage entry owned by the owner and the
  opportunities they own, followed downstream: a person's opportunities and account, an
  opportunity's account.
* Every dimension filter keeps the stage events, the touches (of a kept person, or of a kept
  account when the touch names no person) and the revenue (of a kept account) of what it keeps.
  Spend follows the attribution of ``missionline inputs``: its own channel, else its
  initiative's channel in the plan; market and segment from the initiative's message. Spend
  cannot be attributed to an owner, so an owner filter leaves none. Owners, experiment
  assignments and survey responses are not narrowed by dimension filters.
* **period** (``2025``, ``2025-Q3`` or ``2025-07``): what happened in the window, seen at its
  end. Stage entries, touches, revenue, assignments and survey answers inside the window; spend
  whose ``period_start`` is inside it; people and accounts created before its end; the
  opportunities open at some point of the window, those that closed after its end shown as
  still open (without their close date and loss reason).

Several filters combine with AND.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from urllib.parse import urlencode

import ibis
import ibis.expr.types as ir

from missionline.errors import MissionlineError
from missionline.metrics.inputs import spend_dimension
from missionline.plan.models import Plan
from missionline.workspace import Workspace

FILTER_NAMES = ("period", "market", "segment", "channel", "owner")
PERIOD = re.compile(r"^(?P<year>\d{4})(?:-Q(?P<quarter>[1-4])|-(?P<month>0[1-9]|1[0-2]))?$")
MAX_VALUE_LENGTH = 200

# (people, opportunities, accounts): the ids a dimension filter keeps, as one-column tables.
Kept = tuple[ir.Column, ir.Column, ir.Column]


@dataclass(frozen=True)
class Filters:
    """The filters of one view; ``None`` means no filter on that dimension."""

    period: str | None = None
    market: str | None = None
    segment: str | None = None
    channel: str | None = None
    owner: str | None = None

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> Filters:
        """Read the filters from query parameters; blank values mean no filter."""
        values: dict[str, str | None] = {}
        for name in FILTER_NAMES:
            value = (params.get(name) or "").strip()
            if len(value) > MAX_VALUE_LENGTH:
                raise MissionlineError(f"the {name} filter is longer than {MAX_VALUE_LENGTH}")
            if "\x00" in value:  # the SQL the engine compiles cannot carry one
                raise MissionlineError(f"the {name} filter contains a NUL character")
            values[name] = value or None
        filters = cls(**values)
        filters.window()  # a malformed period fails here, with the accepted forms
        return filters

    def active(self) -> dict[str, str]:
        """The filters that are set, by name."""
        return {k: v for k, v in asdict(self).items() if v is not None}

    def key(self) -> tuple[str | None, ...]:
        """A hashable identity of the view, for caching."""
        return tuple(getattr(self, name) for name in FILTER_NAMES)

    def query(self) -> str:
        """The URL query string that reproduces these filters (empty when none)."""
        return urlencode(self.active())

    def window(self) -> tuple[dt.datetime, dt.datetime] | None:
        """The period as ``[start, end)`` in UTC, or None without a period filter."""
        if self.period is None:
            return None
        match = PERIOD.match(self.period)
        if match is None:
            raise MissionlineError(
                f"invalid period {self.period!r}; write a year (2025), a quarter (2025-Q3) "
                "or a month (2025-07)"
            )
        year = int(match["year"])
        if match["quarter"]:
            first, months = 3 * int(match["quarter"]) - 2, 3
        elif match["month"]:
            first, months = int(match["month"]), 1
        else:
            first, months = 1, 12
        index = year * 12 + first - 1 + months
        return dt.datetime(year, first, 1), dt.datetime(index // 12, index % 12 + 1, 1)


def apply_filters(tables: dict[str, ir.Table], plan: Plan, filters: Filters) -> dict[str, ir.Table]:
    """Return the tables narrowed by ``filters`` (the same tables when no filter is set)."""
    out = dict(tables)
    for name in ("market", "segment", "channel", "owner"):
        value = getattr(filters, name)
        if value is not None:
            kept = _kept(tables, name, value)
            out = _restrict(out, kept)
            out["spend"] = _spend(out["spend"], plan, name, value)
    window = filters.window()
    if window is not None:
        out = _in_window(out, *window)
    return out


def filtered(ws: Workspace, filters: Filters) -> Workspace:
    """A new view of ``ws`` whose tables (and so every metric) honour ``filters``.

    New even without filters: what a report builder memoises per workspace object lives only
    as long as the view, so it cannot outlive the snapshot the view reads (see web/pages.py).
    """
    return FilteredWorkspace(ws, filters)


class FilteredWorkspace(Workspace):
    """A workspace view over the same connection, with narrowed tables; never close it."""

    def __init__(self, base: Workspace, filters: Filters) -> None:
        super().__init__(base.folder, base.plan, base.db)
        self.filters = filters
        self._narrowed = apply_filters(base.tables(), base.plan, filters)

    def tables(self) -> dict[str, ir.Table]:
        """The canonical tables narrowed by the view's filters."""
        return self._narrowed


def _kept(tables: dict[str, ir.Table], name: str, value: str) -> Kept:
    """The people, opportunities and accounts one dimension filter keeps (unfiltered inputs)."""
    people, opps, accounts = tables["people"], tables["opportunities"], tables["accounts"]
    if name in ("market", "segment"):
        a_ids = accounts.filter(accounts[name] == value).account_id
        p_ids = people.filter(people.account_id.isin(a_ids)).person_id
        o_ids = opps.filter(opps.account_id.isin(a_ids)).opportunity_id
        return p_ids, o_ids, a_ids
    if name == "channel":
        p_ids = people.filter(people.source_channel == value).person_id
    else:
        events = tables["stage_events"]
        owned = events.filter(events.owner_id == value)
        p_ids = owned.filter(owned.record_type == "person").record_id.name("person_id")
    downstream = opps.filter(opps.person_id.isin(p_ids))
    o_table = downstream.select("opportunity_id")
    if name == "owner":
        seeds = owned.filter(owned.record_type == "opportunity").select(opportunity_id="record_id")
        own_opps = opps.filter(opps.owner_id == value).select("opportunity_id")
        o_table = ibis.union(o_table, seeds, own_opps)
    o_ids = o_table.opportunity_id
    parts = [
        people.filter(people.person_id.isin(p_ids)).select("account_id"),
        opps.filter(opps.opportunity_id.isin(o_ids)).select("account_id"),
    ]
    if name == "owner":
        parts.append(owned.filter(owned.record_type == "account").select(account_id="record_id"))
    a_table = ibis.union(*parts)
    return p_ids, o_ids, a_table.filter(a_table.account_id.notnull()).account_id


def _restrict(tables: dict[str, ir.Table], kept: Kept) -> dict[str, ir.Table]:
    """Keep the kept records, their stage events, touches and revenue."""
    p_ids, o_ids, a_ids = kept
    out = dict(tables)
    people, opps, accounts = tables["people"], tables["opportunities"], tables["accounts"]
    out["people"] = people.filter(people.person_id.isin(p_ids))
    out["opportunities"] = opps.filter(opps.opportunity_id.isin(o_ids))
    out["accounts"] = accounts.filter(accounts.account_id.isin(a_ids))
    events = tables["stage_events"]
    out["stage_events"] = events.filter(
        ((events.record_type == "person") & events.record_id.isin(p_ids))
        | ((events.record_type == "opportunity") & events.record_id.isin(o_ids))
        | ((events.record_type == "account") & events.record_id.isin(a_ids))
    )
    touches = tables["touches"]
    out["touches"] = touches.filter(
        touches.person_id.isin(p_ids)
        | (touches.person_id.isnull() & touches.account_id.isin(a_ids))
    )
    revenue = tables["revenue"]
    out["revenue"] = revenue.filter(revenue.account_id.isin(a_ids))
    return out


def _spend(spend: ir.Table, plan: Plan, name: str, value: str) -> ir.Table:
    """The spend a dimension filter keeps, attributed as ``missionline inputs`` does."""
    if name == "owner":
        return spend.filter(ibis.literal(False))
    return spend.filter(spend_dimension(spend, plan, name) == ibis.literal(value))


def _in_window(
    tables: dict[str, ir.Table], start: dt.datetime, end: dt.datetime
) -> dict[str, ir.Table]:
    """What happened in ``[start, end)``, seen at ``end`` (see the module docstring)."""
    lo, hi = ibis.literal(start), ibis.literal(end)
    out = dict(tables)
    for name, column in (
        ("stage_events", "entered_at"),
        ("touches", "at"),
        ("revenue", "at"),
        ("spend", "period_start"),
        ("assignments", "at"),
        ("survey_responses", "at"),
    ):
        table = tables[name]
        out[name] = table.filter((table[column] >= lo) & (table[column] < hi))
    people, accounts = tables["people"], tables["accounts"]
    out["people"] = people.filter(people.created_at < hi)
    out["accounts"] = accounts.filter(accounts.created_at.isnull() | (accounts.created_at < hi))
    opps = tables["opportunities"]
    opps = opps.filter((opps.created_at < hi) & (opps.closed_at.isnull() | (opps.closed_at >= lo)))
    later = opps.closed_at.notnull() & (opps.closed_at >= hi)
    out["opportunities"] = opps.mutate(
        status=later.ifelse(ibis.literal("open"), opps.status),
        closed_at=later.ifelse(ibis.null(opps.closed_at.type()), opps.closed_at),
        loss_reason=later.ifelse(ibis.null("string"), opps.loss_reason),
    )
    return out
