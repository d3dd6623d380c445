"""The person funnel: lead -> mql -> sal -> sql -> opportunity -> won/lost, with exits.

Each stage entry has one outcome drawn at once for all records in the stage (vectorised):
advance with p = clip(base * seg_mult * ch_mult), else recycle, disqualify or stall in fixed
proportions (``EXIT_SPLIT``). An MQL that advances skips ``sal`` with probability ``SKIP_SAL``.
Records recycled on their first pass may become an MQL again once (a second pass, whose own
recycles are final). A person has at most one opportunity: it is opened from ``sql``, which
ends the person's path.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from missionline.demo._events import EventLog
from missionline.demo._owners import Owners, pick
from missionline.demo._params import (
    ACCOUNTLESS_LEAD_DQ,
    CRUNCH_DAYS,
    CRUNCH_SHARE,
    DEAL_MEDIAN,
    DEAL_SIGMA,
    DQ_REASON_LATER,
    DQ_REASON_LEAD,
    EXIT_SPLIT,
    EXPERIMENT_LIFT,
    LOSS_REASON,
    MQL_BELOW_THRESHOLD_SHARE,
    MQL_SCORE_THRESHOLD,
    OPPORTUNITY,
    PERSON,
    REASON,
    RECYCLE_REASON,
    REENGAGE,
    RESPONSE_HOURS_MEDIAN,
    RESPONSE_HOURS_SIGMA,
    SKIP_SAL,
    BoolArr,
    FloatArr,
    IntArr,
    categorical,
    lag,
    lognormal,
    step_probability,
)
from missionline.demo._population import People
from missionline.demo._timeline import Timeline

NURTURE_DAYS = 90.0  # how long marketing keeps nurturing a lead that does not convert
FOLLOWUP_DAYS = 30.0  # how long sales keeps working an accepted lead that stalls


@dataclass
class Windows:
    """Intervals during which a person receives touches of one kind."""

    person: IntArr
    start: FloatArr
    end: FloatArr


@dataclass
class Deals:
    """Opportunities of kind ``new``, opened from SQL people (uncensored times)."""

    person: IntArr
    account: IntArr
    segment: IntArr
    created: FloatArr
    close: FloatArr
    won: BoolArr
    amount: FloatArr
    owner: IntArr
    loss_reason: IntArr


@dataclass
class Funnel:
    """Everything the person funnel produced."""

    events: EventLog
    deals: Deals
    first: dict[str, FloatArr]  # uncensored first entry time per person: lead, mql, sal, sql
    mql_passes: IntArr  # how many times each person entered mql (uncensored)
    response: Windows  # first sales touch after each mql entry (start == end)
    nurture: Windows  # marketing, lead -> outcome and recycled -> mql again
    followup: Windows  # sales, sal -> outcome


def crunch(rng: np.random.Generator, tl: Timeline, close: FloatArr) -> FloatArr:
    """Slip a share of close dates into the last two weeks of their quarter (closing crunch)."""
    end = tl.next_quarter_start(close)
    slip = ((end - close) > CRUNCH_DAYS) & (rng.random(len(close)) < CRUNCH_SHARE)
    return np.where(slip, end - CRUNCH_DAYS * rng.random(len(close)), close)


def _outcome(
    rng: np.random.Generator, p_adv: FloatArr, stage: str
) -> tuple[BoolArr, BoolArr, BoolArr]:
    """Draw advance / recycle / disqualify (else stall) for each entry into ``stage``."""
    u = rng.random(len(p_adv))
    adv = u < p_adv
    v = (u - p_adv) / (1.0 - p_adv)  # uniform on [0, 1) given no advance
    rec_share, dq_share = EXIT_SPLIT[stage]
    rec = ~adv & (v < rec_share)
    dq = ~adv & (v >= rec_share) & (v < rec_share + dq_share)
    return adv, rec, dq


def _first(times: FloatArr, who: IntArr, t: FloatArr) -> None:
    """Record ``t`` as the first entry of ``who`` where none was recorded yet."""
    unset = np.isnan(times[who])
    times[who[unset]] = t[unset]


def _dq_reasons(rng: np.random.Generator, n: int) -> IntArr:
    """Draw disqualification reasons for entries past the lead stage."""
    return categorical(rng, DQ_REASON_LATER, REASON, n)


class _Collector:
    """Accumulates parallel arrays in chunks and concatenates them on demand."""

    def __init__(self, *names: str) -> None:
        self.parts: dict[str, list[np.ndarray]] = {k: [] for k in names}

    def add(self, **cols: np.ndarray) -> None:
        """Append one chunk of every column."""
        for k, v in cols.items():
            self.parts[k].append(v)

    def get(self, name: str, dtype: type) -> np.ndarray:
        """Return one column, concatenated."""
        chunks = self.parts[name]
        return np.concatenate(chunks).astype(dtype) if chunks else np.zeros(0, dtype=dtype)


def simulate_funnel(
    rng: np.random.Generator, people: People, owners: Owners, tl: Timeline, variant: IntArr
) -> Funnel:
    """Run every person through the funnel; return stage events, deals and touch windows."""
    n = len(people.created)
    log = EventLog(tl.end)
    seg = np.maximum(people.segment, 0)  # accountless people use the first row's lags
    has_acc = people.segment >= 0
    ch, market = people.channel, people.market
    ini_owner = np.where(
        people.initiative >= 0, owners.initiative_owner[np.maximum(people.initiative, 0)], -1
    )

    radar = np.flatnonzero(people.radar)
    log.add(PERSON, radar, "radar", people.created[radar], ini_owner[radar])
    li = np.flatnonzero(~np.isnan(people.t_lead))
    t_lead = people.t_lead[li]
    log.add(PERSON, li, "lead", t_lead, ini_owner[li])

    # Lead outcome: the nurture experiment's treatment adds a fixed lift to p(lead -> mql).
    pm = np.where(has_acc, step_probability("lead_mql", seg, ch), 0.0)
    pm = pm + EXPERIMENT_LIFT * (variant == 1)
    p_dq = np.where(has_acc, EXIT_SPLIT["lead"][1], ACCOUNTLESS_LEAD_DQ) * (1.0 - pm)
    u = rng.random(len(li))
    t_out = t_lead + lag(rng, "lead_out", seg[li])
    to_mql = u < pm[li]
    to_dq = ~to_mql & (u < pm[li] + p_dq[li])
    dq_i = li[to_dq]
    log.add(
        PERSON,
        dq_i,
        "disqualified",
        t_out[to_dq],
        pick(rng, owners.sdr_by_market, market[dq_i]),
        categorical(rng, DQ_REASON_LEAD, REASON, len(dq_i)),
    )

    p_adv = step_probability("mql_adv", seg, ch)
    p_sql = step_probability("sal_sql", seg, ch)
    p_opp = step_probability("sql_opp", seg, ch)
    first = {k: np.full(n, np.nan) for k in ("lead", "mql", "sal", "sql")}
    first["lead"] = people.t_lead.copy()
    passes = np.zeros(n, dtype=np.int64)
    response = _Collector("person", "t")
    nurture = _Collector("person", "start", "end")
    followup = _Collector("person", "start", "end")
    deals = _Collector("person", "created", "owner")
    nurture.add(person=li, start=t_lead, end=np.where(to_mql, t_out, t_lead + NURTURE_DAYS))

    cur_i, cur_t = li[to_mql], t_out[to_mql]
    for k in range(2):  # first pass, then the second pass of re-engaged recycled MQLs
        i, tm = cur_i, cur_t
        passes[i] += 1
        _first(first["mql"], i, tm)
        sdr = pick(rng, owners.sdr_by_market, market[i])
        log.add(PERSON, i, "mql", tm, sdr)
        # Lead response: the SDR team's first touch, then the accept/reject decision.
        mk = market[i]
        t_touch = (
            tm + lognormal(rng, RESPONSE_HOURS_MEDIAN[mk], RESPONSE_HOURS_SIGMA[mk], len(i)) / 24.0
        )
        response.add(person=i, t=t_touch)
        t_dec = t_touch + lag(rng, "mql_decision", seg[i])
        adv, m_rec, m_dq = _outcome(rng, p_adv[i], "mql")
        skip = adv & (rng.random(len(i)) < SKIP_SAL[seg[i]])
        to_sal = adv & ~skip
        log.add(
            PERSON,
            i[m_dq],
            "disqualified",
            t_dec[m_dq],
            sdr[m_dq],
            _dq_reasons(rng, int(m_dq.sum())),
        )

        j, ts, sdr_j = i[to_sal], t_dec[to_sal], sdr[to_sal]
        _first(first["sal"], j, ts)
        log.add(PERSON, j, "sal", ts, sdr_j)
        t_sal_out = ts + lag(rng, "sal_out", seg[j])
        s_adv, s_rec, s_dq = _outcome(rng, p_sql[j], "sal")
        s_stall = ~(s_adv | s_rec | s_dq)
        followup.add(person=j, start=ts, end=np.where(s_stall, ts + FOLLOWUP_DAYS, t_sal_out))
        log.add(
            PERSON,
            j[s_dq],
            "disqualified",
            t_sal_out[s_dq],
            sdr_j[s_dq],
            _dq_reasons(rng, int(s_dq.sum())),
        )

        q = np.concatenate([i[skip], j[s_adv]])
        tq = np.concatenate([t_dec[skip], t_sal_out[s_adv]])
        ae = pick(rng, owners.ae_by_market, market[q])
        _first(first["sql"], q, tq)
        log.add(PERSON, q, "sql", tq, ae)
        t_sql_out = tq + lag(rng, "sql_out", seg[q])
        q_adv, q_rec, q_dq = _outcome(rng, p_opp[q], "sql")
        log.add(
            PERSON,
            q[q_dq],
            "disqualified",
            t_sql_out[q_dq],
            ae[q_dq],
            _dq_reasons(rng, int(q_dq.sum())),
        )
        deals.add(person=q[q_adv], created=t_sql_out[q_adv], owner=ae[q_adv])

        ri = np.concatenate([i[m_rec], j[s_rec], q[q_rec]])
        rt = np.concatenate([t_dec[m_rec], t_sal_out[s_rec], t_sql_out[q_rec]])
        ro = np.concatenate([sdr[m_rec], sdr_j[s_rec], ae[q_rec]])
        log.add(PERSON, ri, "recycled", rt, ro, categorical(rng, RECYCLE_REASON, REASON, len(ri)))
        back = (rng.random(len(ri)) < REENGAGE[seg[ri]]) if k == 0 else np.zeros(len(ri), bool)
        t_back = rt + lag(rng, "recycled_mql", seg[ri])
        nurture.add(person=ri, start=rt, end=np.where(back, t_back, rt + NURTURE_DAYS))
        cur_i, cur_t = ri[back], t_back[back]

    d = _deals(rng, tl, people, deals)
    nd = len(d.person)
    opp = np.arange(nd, dtype=np.int64)
    log.add(OPPORTUNITY, opp, "opportunity", d.created, d.owner)
    log.add(OPPORTUNITY, opp[d.won], "won", d.close[d.won], d.owner[d.won])
    lost = ~d.won
    log.add(OPPORTUNITY, opp[lost], "lost", d.close[lost], d.owner[lost], d.loss_reason[lost])

    t_resp = response.get("t", np.float64)
    return Funnel(
        log,
        d,
        first,
        passes,
        Windows(response.get("person", np.int64), t_resp, t_resp),
        Windows(
            nurture.get("person", np.int64),
            nurture.get("start", np.float64),
            nurture.get("end", np.float64),
        ),
        Windows(
            followup.get("person", np.int64),
            followup.get("start", np.float64),
            followup.get("end", np.float64),
        ),
    )


def _deals(rng: np.random.Generator, tl: Timeline, people: People, c: _Collector) -> Deals:
    """Give each opened opportunity its close date (with crunch), outcome, amount and reason."""
    person = c.get("person", np.int64)
    created = c.get("created", np.float64)
    # Ordering deals by creation makes their ids follow creation order too.
    order = np.argsort(created, kind="stable")
    person, created, owner = person[order], created[order], c.get("owner", np.int64)[order]
    seg = people.segment[person]
    ch = people.channel[person]
    close = crunch(rng, tl, created + lag(rng, "opp_close", seg))
    won = rng.random(len(person)) < step_probability("opp_won", seg, ch)
    amount = np.round(lognormal(rng, DEAL_MEDIAN[seg], DEAL_SIGMA, len(person)), -2)
    loss = np.where(won, -1, categorical(rng, LOSS_REASON, REASON, len(person)))
    return Deals(person, people.account[person], seg, created, close, won, amount, owner, loss)


def lead_scores(rng: np.random.Generator, mql_passes: IntArr) -> FloatArr:
    """Score people: MQLs mostly at or above 60 (a few deliberately below), others lower."""
    n = len(mql_passes)
    mql = mql_passes > 0
    above = MQL_SCORE_THRESHOLD + 40.0 * rng.beta(2.0, 3.0, n)
    below = MQL_SCORE_THRESHOLD - 0.1 - 15.0 * rng.random(n)  # the data defect the checker finds
    defect = rng.random(n) < MQL_BELOW_THRESHOLD_SHARE
    others = np.clip(45.0 + 12.0 * rng.standard_normal(n), 1.0, 99.0)
    score = np.where(mql, np.where(defect, below, above), others)
    return np.asarray(np.round(score, 1), dtype=np.float64)
