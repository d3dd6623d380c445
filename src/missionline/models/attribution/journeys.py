"""Journeys from a workspace: each record's touches up to its conversion, as attribution paths.

The engine joins touches to outcomes, cuts each journey at its conversion and orders it; NumPy
turns the fetched columns into :class:`~missionline.models.attribution.paths.Paths`.

Definitions (the choices PRODUCT.md leaves open; also in docs/attribution.md):

* A touch's label is its ``channel`` (or its ``initiative_id`` with ``touch="initiative"``);
  touches without one are labelled ``(none)`` so that they keep their share of the credit.
  ``functions`` keeps only the touches of those functions (default: every touch, marketing
  and sales alike). A touch's account is its ``account_id``, else its person's account.
* ``person`` level: one journey per person with touches (``touches.person_id``). The person
  converts when an opportunity with their ``person_id`` is won, at its ``closed_at`` (its
  ``created_at`` when a won deal has no close date); the value is the amount won at that
  first win. Lead creation is ``people.created_at``; opportunity creation the person's first
  opportunity's ``created_at``.
* ``opportunity`` level: one journey per closed (won or lost) opportunity, made of the touches
  of its person and of its account; open opportunities are undecided and left out. A won
  opportunity converts at its close with its ``amount`` as value; a lost one is a journey
  without conversion, cut at its close. Lead creation is its person's ``created_at``;
  opportunity creation its own ``created_at``.
* ``account`` level: one journey per account with touches. The account converts at its first
  won ``new`` opportunity, with the amount won at that instant as value. Lead creation is the
  account's first person's ``created_at``; opportunity creation its first ``new``
  opportunity's ``created_at``.
* Touches after the conversion are excluded, so are a lost opportunity's touches after its
  close; ``lookback_days`` keeps only the touches within that many days before the conversion
  (before the journey's last touch when it did not convert). A record converted without any
  touch left has no path: its conversion is not attributed.
* A journey's touches are ordered by time, touches at the same instant by label.
* Milestone touches: the last touch at or before the lead's (the opportunity's) creation; none
  when the creation precedes every touch or is unknown.
"""

from __future__ import annotations

from collections.abc import Sequence

import ibis
import ibis.expr.types as ir
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from missionline.data.schema import Table
from missionline.errors import MissionlineError
from missionline.models.attribution.paths import Paths, encode_labels
from missionline.plan.models import Plan

LEVELS = ("person", "opportunity", "account")
TOUCH_COLUMNS = {"channel": "channel", "initiative": "initiative_id"}
NONE_LABEL = "(none)"
SECONDS_PER_DAY = 86400.0
# The columns every level's outcome table has, besides the key.
OUTCOME = ("converted", "ends_at", "value", "lead_at", "opportunity_at")


def _touches(tables: dict[str, ir.Table], touch: str, functions: Sequence[str]) -> ir.Table:
    """Touches with their label, and their account (else their person's account)."""
    touches, people = tables["touches"], tables["people"]
    owners = people.select(_person=people.person_id, _person_account=people.account_id)
    joined = touches.left_join(owners, touches.person_id == owners._person)
    if functions:
        joined = joined.filter(joined.function.isin(list(functions)))
    rows = joined.select(
        touch_id=joined.touch_id,
        person_id=joined.person_id,
        account_id=ibis.coalesce(joined.account_id, joined._person_account),
        at=joined.at,
        label=joined[TOUCH_COLUMNS[touch]].fill_null(NONE_LABEL),
    )
    # A view: ibis would otherwise fold a later join into this one and lose the computed
    # account_id (an IntegrityError in ibis 12).
    return rows.view()


def _closed_at(opportunities: ir.Table) -> ir.TimestampValue:
    """When a deal closed; its creation when a closed deal has no close date."""
    return ibis.coalesce(opportunities.closed_at, opportunities.created_at)


def _first_wins(opportunities: ir.Table, key: str, kinds: Sequence[str] = ()) -> ir.Table:
    """Per ``key``: the first win's time (``_won_at``) and the amount won then (``_won``)."""
    won = opportunities.filter((opportunities.status == "won") & opportunities[key].notnull())
    if kinds:
        won = won.filter(won.kind.isin(list(kinds)))
    rows = won.select(_wkey=won[key], _at=_closed_at(won), _amount=won.amount.fill_null(0.0))
    first = rows.group_by(_fkey=rows._wkey).agg(_first=rows._at.min())
    both = rows.join(first, [rows._wkey == first._fkey, rows._at == first._first])
    return both.group_by("_wkey").agg(_won_at=both._at.min(), _won=both._amount.sum())


def _first_created(opportunities: ir.Table, key: str, kinds: Sequence[str] = ()) -> ir.Table:
    """Per ``key``: the first opportunity's creation (``_opp_at``)."""
    rows = opportunities.filter(opportunities[key].notnull())
    if kinds:
        rows = rows.filter(rows.kind.isin(list(kinds)))
    return rows.group_by(_okey=rows[key]).agg(_opp_at=rows.created_at.min())


def _record_outcomes(
    records: ir.Table, key: str, lead_at: ir.Value, opportunities: ir.Table, kinds: Sequence[str]
) -> ir.Table:
    """Person or account outcomes: converted at the first win, milestones from the records."""
    base = records.select(key=records[key], lead_at=lead_at)
    wins = _first_wins(opportunities, key, kinds)
    created = _first_created(opportunities, key, kinds)
    joined = base.left_join(wins, base.key == wins._wkey).left_join(
        created, base.key == created._okey
    )
    return joined.select(
        key=joined.key,
        converted=joined._won_at.notnull(),
        ends_at=joined._won_at,
        value=joined._won.fill_null(0.0),
        lead_at=joined.lead_at,
        opportunity_at=joined._opp_at,
    )


def _matched(tables: dict[str, ir.Table], level: str, touches: ir.Table) -> ir.Table:
    """Each journey's touches with its outcome columns, before the cut at the conversion."""
    opportunities, people = tables["opportunities"], tables["people"]
    if level == "person":
        outcomes = _record_outcomes(people, "person_id", people.created_at, opportunities, ())
        return touches.join(outcomes, touches.person_id == outcomes.key)
    if level == "account":
        first_lead = (
            people.filter(people.account_id.notnull())
            .group_by("account_id")
            .agg(_lead=people.created_at.min())
        )
        outcomes = _record_outcomes(
            first_lead, "account_id", first_lead._lead, opportunities, ("new",)
        )
        return touches.join(outcomes, touches.account_id == outcomes.key)
    closed = opportunities.filter(opportunities.status.isin(["won", "lost"]))
    leads = people.select(_lead_person=people.person_id, _lead=people.created_at)
    closed = closed.left_join(leads, closed.person_id == leads._lead_person)
    won = closed.status == "won"
    outcomes = closed.select(
        key=closed.opportunity_id,
        _person=closed.person_id,
        _account=closed.account_id,
        converted=won,
        ends_at=won.ifelse(_closed_at(closed), closed.closed_at),
        value=won.ifelse(closed.amount.fill_null(0.0), 0.0),
        lead_at=closed._lead,
        opportunity_at=closed.created_at,
    )
    columns = ["key", *touches.columns, *OUTCOME]
    by_person = touches.join(outcomes, touches.person_id == outcomes._person).select(columns)
    again, others = touches.view(), outcomes.view()  # the same tables joined a second time
    by_account = again.join(others, again.account_id == others._account).select(columns)
    return by_person.union(by_account, distinct=True)


def journeys_expr(
    tables: dict[str, ir.Table],
    level: str = "person",
    touch: str = "channel",
    lookback_days: float | None = None,
    functions: Sequence[str] = (),
) -> ir.Table:
    """One row per kept touch of every journey, ordered by journey and time (an Ibis expression)."""
    if level not in LEVELS:
        raise MissionlineError(f"unknown level {level!r}; use one of {', '.join(LEVELS)}")
    if touch not in TOUCH_COLUMNS:
        raise MissionlineError(
            f"unknown touch dimension {touch!r}; use one of {', '.join(TOUCH_COLUMNS)}"
        )
    rows = _matched(tables, level, _touches(tables, touch, functions))
    rows = rows.filter(rows.ends_at.isnull() | (rows.at <= rows.ends_at))
    if lookback_days is not None:
        if lookback_days < 0:
            raise MissionlineError(f"the lookback must be 0 days or more, not {lookback_days}")
        last = rows.at.max().over(ibis.window(group_by=rows.key))
        reference = rows.converted.ifelse(rows.ends_at, last)
        window = ibis.interval(seconds=round(lookback_days * SECONDS_PER_DAY))
        rows = rows.filter(rows.at >= reference - window)
    return rows.select(
        key=rows.key,
        at_s=rows.at.epoch_seconds().cast("float64"),
        label=rows.label,
        converted=rows.converted,
        value=rows.value,
        end_s=rows.ends_at.epoch_seconds().cast("float64"),
        lead_s=rows.lead_at.epoch_seconds().cast("float64"),
        opp_s=rows.opportunity_at.epoch_seconds().cast("float64"),
    ).order_by(["key", "at_s", "label"])


def _column(table: pa.Table, name: str) -> np.ndarray:
    """A fetched column as a NumPy array (nulls as NaN for numbers)."""
    return table[name].to_numpy()


def _milestone(at: np.ndarray, path: np.ndarray, moment: np.ndarray, paths: int) -> np.ndarray:
    """Per path, the index of the last touch at or before ``moment`` (-1: none or unknown)."""
    before = at <= moment[path]  # NaN (unknown) compares false
    return np.bincount(path[before], minlength=paths).astype(np.int64) - 1


def paths_from_rows(table: pa.Table) -> Paths:
    """Turn fetched journey rows (ordered by journey, then time) into paths."""
    n = table.num_rows
    keys = table["key"].combine_chunks()
    first = np.ones(n, dtype=bool)
    if n > 1:
        first[1:] = pc.not_equal(keys[1:], keys[:-1]).to_numpy(zero_copy_only=False)
    starts = np.flatnonzero(first)
    offsets = np.append(starts, n).astype(np.int64)
    channels, codes = encode_labels(table["label"])
    at = _column(table, "at_s")
    converted = _column(table, "converted")[starts].astype(bool)
    path = np.repeat(np.arange(len(starts)), np.diff(offsets))
    last_touch = at[offsets[1:] - 1] if len(starts) else np.zeros(0)
    reference = np.where(converted, _column(table, "end_s")[starts], last_touch)
    return Paths(
        channels,
        offsets,
        codes,
        converted.astype(np.float64),
        np.asarray(_column(table, "value")[starts], dtype=np.float64),
        (~converted).astype(np.float64),
        (reference[path] - at) / SECONDS_PER_DAY,
        _milestone(at, path, _column(table, "lead_s")[starts], len(starts)),
        _milestone(at, path, _column(table, "opp_s")[starts], len(starts)),
    )


def workspace_paths(
    tables: dict[str, ir.Table],
    schema: dict[str, Table],
    plan: Plan,
    level: str = "person",
    touch: str = "channel",
    lookback_days: float | None = None,
    functions: Sequence[str] = (),
) -> Paths:
    """Return every journey of the workspace at ``level`` as paths of channels (or initiatives).

    ``schema`` and ``plan`` follow the metric signature; the journeys use canonical columns only.
    """
    expr = journeys_expr(tables, level, touch, lookback_days, functions)
    return paths_from_rows(expr.to_pyarrow())
