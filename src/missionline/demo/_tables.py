"""Assembly of the two tables that join several simulations: opportunities and stage events."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from missionline.demo._customers import OPP_KINDS, Opps
from missionline.demo._events import EventLog
from missionline.demo._funnel import Deals
from missionline.demo._ids import constant, decode, sequential_ids, take
from missionline.demo._params import (
    CURRENCY,
    OPPORTUNITY,
    PERSON,
    REASONS,
    RECORD_TYPES,
    STAGES,
    BoolArr,
    FloatArr,
    IntArr,
)
from missionline.demo._timeline import Timeline

OPP_STATUS = ("open", "won", "lost")


@dataclass
class AllOpps:
    """New-business deals followed by customer-side opportunities (uncensored)."""

    person: IntArr
    account: IntArr
    created: FloatArr
    close: FloatArr
    won: BoolArr
    amount: FloatArr
    owner: IntArr
    kind: IntArr
    loss_reason: IntArr

    @classmethod
    def combine(cls, deals: Deals, other: Opps) -> AllOpps:
        """Stack deals (kind new) and customer opportunities; indices follow this order."""
        cat = np.concatenate
        return cls(
            cat([deals.person, np.full(len(other.account), -1, dtype=np.int64)]),
            cat([deals.account, other.account]),
            cat([deals.created, other.created]),
            cat([deals.close, other.close]),
            cat([deals.won, other.won]),
            cat([deals.amount, other.amount]),
            cat([deals.owner, other.owner]),
            cat([np.zeros(len(deals.person), dtype=np.int64), other.kind]),
            cat([deals.loss_reason, other.loss_reason]),
        )


def opportunities_table(
    o: AllOpps, tl: Timeline, person_ids: pa.Array, account_ids: pa.Array, owner_ids: pa.Array
) -> tuple[pa.Table, IntArr, pa.Array]:
    """Assemble opportunities opened before the end; return (table, index -> row, ids)."""
    rows = np.flatnonzero(o.created < tl.end)
    rows = rows[np.argsort(o.created[rows], kind="stable")]  # ids follow creation order
    row_of = np.full(len(o.created), -1, dtype=np.int64)
    row_of[rows] = np.arange(len(rows))
    ids = sequential_ids("opp_", len(rows), 7)
    closed = o.close[rows] < tl.end  # still open at the extract date otherwise
    won = o.won[rows]
    status = np.where(closed, np.where(won, 1, 2), 0)
    table = pa.table(
        {
            "opportunity_id": ids,
            "account_id": take(account_ids, o.account[rows]),
            "person_id": take(person_ids, o.person[rows]),
            "created_at": tl.timestamps(o.created[rows]),
            "closed_at": tl.timestamps(o.close[rows], closed),
            "amount": pa.array(o.amount[rows], pa.float64()),
            "currency": constant(CURRENCY, len(rows)),
            "status": decode(OPP_STATUS, status),
            "kind": decode(OPP_KINDS, o.kind[rows]),
            "owner_id": take(owner_ids, o.owner[rows]),
            "loss_reason": decode(REASONS, np.where(status == 2, o.loss_reason[rows], -1)),
        }
    )
    return table, row_of, ids


def stage_events_table(
    log: EventLog,
    tl: Timeline,
    person_ids: pa.Array,
    opp_row: IntArr,
    opp_ids: pa.Array,
    account_ids: pa.Array,
    owner_ids: pa.Array,
) -> pa.Table:
    """Assemble the stage history, sorted by time, with record ids of the right record type."""
    c = log.columns()
    order = np.argsort(c["t"], kind="stable")
    c = {k: v[order] for k, v in c.items()}
    # One id space: people, then opportunity rows, then accounts.
    n_p, n_o = len(person_ids), len(opp_ids)
    rtype, rec = c["record_type"], c["record"]
    index = rec.astype(np.int64)
    is_opp = rtype == OPPORTUNITY
    index[is_opp] = n_p + opp_row[rec[is_opp]]
    is_acc = (rtype != PERSON) & ~is_opp
    index[is_acc] = n_p + n_o + rec[is_acc]
    all_ids = pa.concat_arrays([person_ids, opp_ids, account_ids])
    return pa.table(
        {
            "record_id": take(all_ids, index),
            "record_type": decode(RECORD_TYPES, rtype),
            "stage": decode(STAGES, c["stage"]),
            "entered_at": tl.timestamps(c["t"]),
            "owner_id": take(owner_ids, c["owner"]),
            "reason": decode(REASONS, c["reason"]),
        }
    )
