"""Touches: marketing touches before conversions, sales activity after hand-off and on deals."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pyarrow as pa

from missionline.demo._funnel import Funnel, Windows
from missionline.demo._ids import decode, sequential_ids, take
from missionline.demo._initiatives import INITIATIVE_IDS, choose_initiative
from missionline.demo._params import (
    CHANNEL_TOUCH_KIND,
    CHANNELS,
    DEAL_KIND,
    DEAL_TOUCHES,
    FOLLOWUP_KIND,
    NURTURE_CHANNEL_MIX,
    NURTURE_TOUCHES,
    RESPONSE_KIND,
    SALES_FOLLOWUPS,
    TOUCH_KIND,
    TOUCH_KINDS,
    FloatArr,
    IntArr,
    categorical,
)
from missionline.demo._population import People
from missionline.demo._timeline import Timeline

FUNCTIONS = ("marketing", "sales")
_OUTBOUND = CHANNELS.index("outbound")  # the channel recorded on sales activity


@dataclass
class DealSpan:
    """What the touch generator needs of every opportunity: who, and when it was worked."""

    person: IntArr  # -1: none
    account: IntArr
    start: FloatArr
    end: FloatArr


class _Touches:
    """Accumulates touch columns in chunks, stored narrow to keep memory modest."""

    _DTYPES: ClassVar[dict[str, type]] = {
        "person": np.int32,
        "account": np.int32,
        "t": np.float64,
        "channel": np.int8,
        "initiative": np.int8,
        "function": np.int8,
        "kind": np.int8,
    }

    def __init__(self) -> None:
        """Start with no touches."""
        self.parts: dict[str, list[np.ndarray]] = {k: [] for k in self._DTYPES}

    def add(
        self,
        person: IntArr,
        account: IntArr,
        t: FloatArr,
        channel: IntArr,
        initiative: IntArr,
        function: int,
        kind: IntArr,
    ) -> None:
        """Append one chunk of touches that share a function."""
        cols = {
            "person": person,
            "account": account,
            "t": t,
            "channel": channel,
            "initiative": initiative,
            "function": np.full(len(t), function),
            "kind": kind,
        }
        for k, v in cols.items():
            self.parts[k].append(np.asarray(v, dtype=self._DTYPES[k]))

    def columns(self, end: float) -> dict[str, np.ndarray]:
        """Return the touches before ``end`` as time-sorted columns, freeing the chunks."""
        t = np.concatenate(self.parts.pop("t"))
        keep = np.flatnonzero(t < end)
        keep = keep[np.argsort(t[keep], kind="stable")]  # stable: identical across machines
        out = {"t": t[keep]}
        del t
        for k in list(self.parts):
            out[k] = np.concatenate(self.parts.pop(k))[keep]  # free each column's chunks
        return out


def _spread(
    rng: np.random.Generator, w: Windows | DealSpan, mean: float, extra: int = 0
) -> tuple[IntArr, FloatArr]:
    """Place ``extra + Poisson(mean)`` touches uniformly in each window; return (window, t)."""
    count = rng.poisson(mean, len(w.start)) + extra
    which = np.repeat(np.arange(len(w.start)), count)
    t = w.start[which] + rng.random(len(which)) * (w.end[which] - w.start[which])
    return which, t


def _marketing_kind(rng: np.random.Generator, channel: IntArr) -> IntArr:
    """Draw the touch kind that fits each marketing channel."""
    kind = np.empty(len(channel), dtype=np.int64)
    for c in range(len(CHANNELS)):
        rows = np.flatnonzero(channel == c)
        kind[rows] = rng.choice(len(TOUCH_KINDS), len(rows), p=CHANNEL_TOUCH_KIND[c])
    return kind


def simulate_touches(
    rng: np.random.Generator, people: People, funnel: Funnel, deals: DealSpan, tl: Timeline
) -> dict[str, np.ndarray]:
    """Generate all touches; return their columns (censored at the window end, time-sorted)."""
    out = _Touches()
    # The engagement that made the person a lead, credited to their first initiative.
    li = np.flatnonzero(~np.isnan(people.t_lead))
    ch = people.channel[li]
    out.add(
        li,
        people.account[li],
        people.t_lead[li],
        ch,
        people.initiative[li],
        0,
        _marketing_kind(rng, ch),
    )
    # Nurture touches while a lead (or a recycled MQL) is worked by marketing.
    which, t = _spread(rng, funnel.nurture, NURTURE_TOUCHES)
    who = funnel.nurture.person[which]
    ch = rng.choice(len(CHANNELS), len(who), p=NURTURE_CHANNEL_MIX)
    ini = choose_initiative(rng, tl, ch, tl.month_of(t), people.segment[who])
    out.add(who, people.account[who], t, ch, ini, 0, _marketing_kind(rng, ch))
    # Sales: the first response to each MQL, follow-ups on accepted leads, then deal work.
    r = funnel.response
    n = len(r.person)
    out.add(
        r.person,
        people.account[r.person],
        r.start,
        np.full(n, _OUTBOUND),
        np.full(n, -1),
        1,
        categorical(rng, RESPONSE_KIND, TOUCH_KIND, n),
    )
    which, t = _spread(rng, funnel.followup, SALES_FOLLOWUPS)
    who = funnel.followup.person[which]
    n = len(who)
    out.add(
        who,
        people.account[who],
        t,
        np.full(n, _OUTBOUND),
        np.full(n, -1),
        1,
        categorical(rng, FOLLOWUP_KIND, TOUCH_KIND, n),
    )
    which, t = _spread(rng, deals, DEAL_TOUCHES, extra=1)
    n = len(which)
    out.add(
        deals.person[which],
        deals.account[which],
        t,
        np.full(n, _OUTBOUND),
        np.full(n, -1),
        1,
        categorical(rng, DEAL_KIND, TOUCH_KIND, n),
    )
    return out.columns(tl.end)


def touches_table(
    cols: dict[str, np.ndarray], tl: Timeline, person_ids: pa.Array, account_ids: pa.Array
) -> pa.Table:
    """Assemble the touches table."""
    n = len(cols["t"])
    return pa.table(
        {
            "touch_id": sequential_ids("tch_", n, 9),
            "person_id": take(person_ids, cols["person"]),
            "account_id": take(account_ids, cols["account"]),
            "at": tl.timestamps(cols["t"]),
            "channel": decode(CHANNELS, cols["channel"]),
            "initiative_id": decode(INITIATIVE_IDS, cols["initiative"]),
            "function": decode(FUNCTIONS, cols["function"]),
            "kind": decode(TOUCH_KINDS, cols["kind"]),
        }
    )
