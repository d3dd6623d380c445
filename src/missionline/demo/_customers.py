"""Customer lifecycle after the first win: expansion, advocacy, renewals, churn and revenue.

Revenue sign convention: ``new``, ``expansion``, ``renewal`` and ``purchase`` rows are positive
inflows; ``contraction`` and ``churn`` rows are negative and equal to minus the annual contract
value given up (for churn: the whole contract value at the anniversary it was not renewed).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from missionline.demo._events import EventLog
from missionline.demo._funnel import Deals, crunch
from missionline.demo._owners import Owners
from missionline.demo._params import (
    ACCOUNT,
    ADVOCATE_LAG,
    ADVOCATE_P,
    CHURN_P,
    CONTRACTION_P,
    CONTRACTION_SHARE,
    DEAL_MEDIAN,
    DEAL_SIGMA,
    EXPANSION_CLOSE,
    EXPANSION_LAG,
    EXPANSION_OPP_P,
    EXPANSION_SIZE,
    EXPANSION_WIN,
    LOSS_REASON,
    MONTHLY_CADENCE_SHARE,
    OPPORTUNITY,
    ORDER_P,
    ORDER_SIGMA,
    REASON,
    RENEWAL_LEAD_DAYS,
    BoolArr,
    FloatArr,
    IntArr,
    categorical,
    lognormal,
)
from missionline.demo._timeline import Timeline

REVENUE_KINDS = ("new", "expansion", "renewal", "contraction", "churn", "purchase")
NEW, EXPANSION, RENEWAL, CONTRACTION, CHURN, PURCHASE = range(6)
OPP_KINDS = ("new", "expansion", "renewal")
YEAR = 365.25


@dataclass
class Opps:
    """Opportunities opened with existing customers (kind expansion or renewal)."""

    account: IntArr
    created: FloatArr
    close: FloatArr
    won: BoolArr
    amount: FloatArr
    owner: IntArr
    kind: IntArr  # into OPP_KINDS
    loss_reason: IntArr


@dataclass
class Lifecycle:
    """Customer-side output: extra opportunities, revenue rows and realised counts."""

    opps: Opps
    revenue_account: IntArr
    revenue_t: FloatArr
    revenue_amount: FloatArr
    revenue_kind: IntArr
    counts: dict[str, int]


class _Rows:
    """Accumulates revenue rows."""

    def __init__(self) -> None:
        """Start with no rows."""
        self.parts: list[tuple[IntArr, FloatArr, FloatArr, IntArr]] = []

    def add(self, account: IntArr, t: FloatArr, amount: FloatArr, kind: int | IntArr) -> None:
        """Append rows of one kind (or of per-row kinds)."""
        kinds = np.broadcast_to(np.asarray(kind, dtype=np.int64), account.shape)
        self.parts.append((account, t, amount, kinds))

    def columns(self, end: float) -> tuple[IntArr, FloatArr, FloatArr, IntArr]:
        """Return account, time, amount and kind of the rows before ``end``, time-sorted."""
        cols = [np.concatenate([p[i] for p in self.parts]) for i in range(4)]
        keep = cols[1] < end
        order = np.argsort(cols[1][keep], kind="stable")
        a, t, m, k = (c[keep][order] for c in cols)
        return a.astype(np.int64), t, m, k.astype(np.int64)


def simulate_customers(
    rng: np.random.Generator,
    deals: Deals,
    account_segment: IntArr,
    owners: Owners,
    tl: Timeline,
    log: EventLog,
) -> Lifecycle:
    """Turn won deals into customers and simulate their life until the end of the window."""
    end = tl.end
    won = np.flatnonzero(deals.won & (deals.close < end))
    order = won[np.lexsort((deals.close[won], deals.account[won]))]
    first = np.ones(len(order), dtype=bool)
    first[1:] = deals.account[order][1:] != deals.account[order][:-1]
    cust = deals.account[order][first]  # customers' account indices
    nc = len(cust)
    t0 = deals.close[order][first]
    acv0 = deals.amount[order][first]
    ae = deals.owner[order][first]
    seg = account_segment[cust]
    cust_of = np.full(len(account_segment), -1, dtype=np.int64)
    cust_of[cust] = np.arange(nc)
    log.add(ACCOUNT, cust, "customer", t0, owners.csm[rng.integers(len(owners.csm), size=nc)])

    # Churn is decided at each anniversary (independently); later events stop at churn.
    n_ann = tl.months // 12 + 2
    churn_draw = rng.random((n_ann, nc)) < CHURN_P[seg]
    first_churn = np.where(churn_draw.any(axis=0), churn_draw.argmax(axis=0) + 1, n_ann + 10)
    t_churn = t0 + YEAR * first_churn

    rows = _Rows()
    rows.add(cust, t0, acv0, NEW)
    later = order[~first]  # person-originated wins at accounts that are customers already
    later_c = cust_of[deals.account[later]]
    later_t = deals.close[later]
    active = later_t < t_churn[later_c]
    rows.add(deals.account[later], later_t, deals.amount[later], np.where(active, EXPANSION, NEW))

    x = _expansion_opps(rng, tl, seg, t0, t_churn, ae)
    xc = x.account  # customer index of each expansion opportunity
    x_won = x.won & (x.close < end)
    rows.add(cust[xc[x_won]], x.close[x_won], x.amount[x_won], EXPANSION)
    # A customer enters `expansion` at its first further win while still a customer.
    t_exp = np.full(nc, np.inf)
    np.minimum.at(t_exp, later_c[active], later_t[active])
    np.minimum.at(t_exp, xc[x_won], x.close[x_won])
    csm = owners.csm[rng.integers(len(owners.csm), size=nc)]
    has_exp = np.isfinite(t_exp)
    log.add(ACCOUNT, cust[has_exp], "expansion", t_exp[has_exp], csm[has_exp])
    t_adv = t0 + lognormal(rng, ADVOCATE_LAG[0], ADVOCATE_LAG[1], nc)
    adv = (rng.random(nc) < ADVOCATE_P[seg]) & (t_adv < t_churn)
    log.add(ACCOUNT, cust[adv], "advocate", t_adv[adv], csm[adv])

    # Anniversaries: renewal opportunity and revenue; contract value grows with expansions.
    extra_t = np.concatenate([later_t[active], x.close[x_won]])
    extra_c = np.concatenate([later_c[active], xc[x_won]])
    extra_amount = np.concatenate([deals.amount[later][active], x.amount[x_won]])
    acv = acv0.copy()
    factor_t = np.full((n_ann, nc), np.inf)  # when each contraction takes effect
    factor = np.ones((n_ann, nc))
    renewals: list[tuple[IntArr, FloatArr, BoolArr, FloatArr]] = []
    for j in range(1, n_ann + 1):
        ta = t0 + YEAR * j
        grow = np.zeros(nc)
        in_year = (extra_t < ta[extra_c]) & (extra_t >= ta[extra_c] - YEAR)
        np.add.at(grow, extra_c[in_year], extra_amount[in_year])
        acv = acv + grow
        alive = t_churn >= ta
        churns = churn_draw[j - 1] & alive
        shrink = alive & ~churns & (rng.random(nc) < CONTRACTION_P)
        share = rng.uniform(*CONTRACTION_SHARE, size=nc)
        idx = np.flatnonzero(alive)
        renewals.append((idx, ta[idx], ~churns[idx], acv[idx].copy()))
        rows.add(cust[churns], ta[churns], -acv[churns], CHURN)
        rows.add(cust[shrink], ta[shrink], -share[shrink] * acv[shrink], CONTRACTION)
        keep = alive & ~churns
        acv = np.where(shrink, acv * (1.0 - share), acv)
        rows.add(cust[keep], ta[keep], acv[keep], RENEWAL)
        factor_t[j - 1] = np.where(shrink, ta, np.inf)
        factor[j - 1] = np.where(shrink, 1.0 - share, 1.0)

    monthly = rng.random(nc) < MONTHLY_CADENCE_SHARE
    _purchases(rng, rows, cust, t0, acv0, np.minimum(t_churn, end), monthly, factor_t, factor)

    rn = _renewal_opps(rng, renewals, ae)
    opps = Opps(
        np.concatenate([cust[xc], cust[rn.account]]),
        np.concatenate([x.created, rn.created]),
        np.concatenate([x.close, rn.close]),
        np.concatenate([x.won, rn.won]),
        np.concatenate([x.amount, rn.amount]),
        np.concatenate([x.owner, rn.owner]),
        np.concatenate([x.kind, rn.kind]),
        np.concatenate([x.loss_reason, rn.loss_reason]),
    )
    a, t, m, k = rows.columns(end)
    in_data = t_churn < end
    counts = {
        "customers": nc,
        "churned": int(in_data.sum()),
        "contracted": int((k == CONTRACTION).sum()),
        "expanded": int((has_exp & (t_exp < end)).sum()),
        "advocates": int((adv & (t_adv < end)).sum()),
        "expansion_opportunities": int((x.created < end).sum()),
        "renewal_opportunities": int((rn.created < end).sum()),
        "monthly_cadence": int(monthly.sum()),
    }
    return Lifecycle(opps, a, t, m, k, counts)


def _expansion_opps(
    rng: np.random.Generator, tl: Timeline, seg: IntArr, t0: FloatArr, t_churn: FloatArr, ae: IntArr
) -> Opps:
    """Open at most one expansion opportunity per customer (``account``: customer index)."""
    nc = len(seg)
    created = t0 + lognormal(rng, EXPANSION_LAG[0], EXPANSION_LAG[1], nc)
    has = (rng.random(nc) < EXPANSION_OPP_P[seg]) & (created < t_churn)
    c = np.flatnonzero(has)
    created = created[c]
    close = crunch(
        rng, tl, created + lognormal(rng, EXPANSION_CLOSE[0], EXPANSION_CLOSE[1], len(c))
    )
    # A deal still open when the customer churns is lost.
    won = (rng.random(len(c)) < EXPANSION_WIN[seg[c]]) & (close < t_churn[c])
    amount = np.round(lognormal(rng, DEAL_MEDIAN[seg[c]] * EXPANSION_SIZE, DEAL_SIGMA, len(c)), -2)
    loss = np.where(won, -1, categorical(rng, LOSS_REASON, REASON, len(c)))
    return Opps(c, created, close, won, amount, ae[c], np.full(len(c), 1, dtype=np.int64), loss)


def _renewal_opps(
    rng: np.random.Generator, renewals: list[tuple[IntArr, FloatArr, BoolArr, FloatArr]], ae: IntArr
) -> Opps:
    """One renewal opportunity per anniversary reached (``account``: customer index)."""
    idx = np.concatenate([r[0] for r in renewals])
    close = np.concatenate([r[1] for r in renewals])
    won = np.concatenate([r[2] for r in renewals])
    amount = np.round(np.concatenate([r[3] for r in renewals]), -2)
    loss = np.where(won, -1, categorical(rng, LOSS_REASON, REASON, len(idx)))
    kind = np.full(len(idx), 2, dtype=np.int64)
    return Opps(idx, close - RENEWAL_LEAD_DAYS, close, won, amount, ae[idx], kind, loss)


def _purchases(
    rng: np.random.Generator,
    rows: _Rows,
    cust: IntArr,
    t0: FloatArr,
    acv0: FloatArr,
    stop: FloatArr,
    monthly: BoolArr,
    factor_t: FloatArr,
    factor: FloatArr,
) -> None:
    """Add repeat orders (monthly or quarterly, some skipped) until churn or the window end."""
    period = np.where(monthly, YEAR / 12.0, YEAR / 4.0)
    count = np.maximum(np.floor((stop - t0) / period), 0).astype(np.int64)
    who = np.repeat(np.arange(len(cust)), count)
    k = np.arange(len(who)) - np.repeat(np.cumsum(count) - count, count) + 1
    t = t0[who] + k * period[who] + rng.normal(0.0, 3.0, len(who))
    keep = (rng.random(len(who)) < ORDER_P) & (t < stop[who]) & (t > t0[who])
    who, t = who[keep], t[keep]
    size = acv0[who] * period[who] / YEAR * lognormal(rng, 1.0, ORDER_SIGMA, len(who))
    for j in range(factor.shape[0]):  # contractions shrink later orders
        size = np.where(t >= factor_t[j, who], size * factor[j, who], size)
    rows.add(cust[who], t, np.round(size, 2), PURCHASE)


def opportunity_events(log: EventLog, opps: Opps, offset: int) -> None:
    """Log opportunity / won / lost entries of customer-side opportunities."""
    idx = offset + np.arange(len(opps.account), dtype=np.int64)
    log.add(OPPORTUNITY, idx, "opportunity", opps.created, opps.owner)
    log.add(OPPORTUNITY, idx[opps.won], "won", opps.close[opps.won], opps.owner[opps.won])
    lost = ~opps.won
    log.add(
        OPPORTUNITY, idx[lost], "lost", opps.close[lost], opps.owner[lost], opps.loss_reason[lost]
    )
