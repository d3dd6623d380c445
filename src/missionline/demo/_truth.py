"""The true parameters behind a generated company, written to ``truth.json``.

Step conversions are computed analytically from the funnel parameters (see ``_funnel``):
for a record whose first entry into ``from`` is on pass k, the probability of a later entry
into ``to`` follows the finite chain of passes, skips and one possible re-entry after recycle.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from missionline.demo import _params as P
from missionline.demo._initiatives import INITIATIVES
from missionline.demo._params import CHANNELS, SEGMENTS, BoolArr, FloatArr, IntArr

STEP_KEYS = {  # truth key -> (from stage, to stage)
    "lead->mql": ("lead", "mql"),
    "mql->sal": ("mql", "sal"),
    "sal->sql": ("sal", "sql"),
    "sql->opportunity": ("sql", "opportunity"),
    "opportunity->won": ("opportunity", "won"),
}

DEFINITIONS = {
    "seed, leads, start, months": "Generator inputs; `leads` is the number of people.",
    "end": "Window end (exclusive) = start + months. Every timestamp in the tables is before "
    "it: the data are an extract taken at `end`, so later lifecycle events are censored "
    "(open opportunities, leads still in flight). Spend period_end may equal `end`.",
    "conversion": "For step from->to: the true probability that a record that entered `from` "
    "later enters `to` (at or after its first `from` entry), with no time limit "
    "(uncensored). `overall`, `by_segment` (segment of the person's account; "
    "people without an account are excluded) and `by_channel` (the person's "
    "source_channel) average each record's probability over the records that "
    "entered `from` before `end` (the realised mix; lead->mql includes the "
    "experiment's lift for treatment units). `by_segment_channel` gives the "
    "per-cell probability for records outside the experiment, so any cohort's "
    "expectation is the cell mix average. sql->opportunity links a person to "
    "the opportunity whose person_id it is. opportunity->won covers kind `new` "
    "opportunities only. `n` is the number of records that entered `from` before `end`. "
    "Recent cohorts are censored by `end`: compare with records whose first `from` entry "
    "is at least a year before `end`.",
    "lag_days": "Median (and log-scale sigma) of the lognormal time from entering `from` to the "
    "decision that leaves it, by segment. mql->sal is measured from the first "
    "sales touch (the mql->sal lag adds the response time). opportunity->close "
    "is before the quarter-end crunch moves some close dates later.",
    "sla_response_hours": "Lognormal median and sigma of hours from each mql entry to the "
    "first sales touch, by SDR team.",
    "quarter_end_crunch": "Share of closes not already in the last `days` days of their "
    "calendar quarter that slip to a uniform time in them.",
    "deal_size": "Lognormal median (USD) of new-business deal amounts by segment, the log "
    "sigma, and the expansion-deal median by segment.",
    "experiment": "Leads at known accounts whose lead entry falls in [window_start, window_end)"
    " are randomised 50/50. control_rate is the mean true lead->mql probability"
    " over all units without treatment; treatment_rate = control_rate + "
    "true_lift (an additive lift applied to every treated unit).",
    "churn": "At each anniversary of its first win a customer churns with the annual "
    "probability of its segment (revenue row `churn`, amount = -contract value); "
    "otherwise it renews, contracting with `contraction_probability` by a share "
    "drawn from `contraction_share_range`.",
    "customers": "Customer-side parameters and realised counts (within the window).",
    "funnel_parameters": "p(step) = clip(base * seg_mult[segment] * ch_mult[channel]); "
    "exit_split gives the (recycled, disqualified) shares of a stage's "
    "non-advancing entries; skip_sal the share of advancing MQLs going "
    "straight to sql; reengage the share of first-pass recycles that "
    "become MQL again (once).",
    "data_quality": "Deliberate defects: share of MQL people with lead_score below 60.",
    "survey": "Marketing's latent score exceeds sales' by `gap` on `gap_questions`; wave 2 "
    "is `wave_improvement` higher for everyone.",
    "revenue_sign_convention": "new, expansion, renewal, purchase > 0; contraction, churn < 0 "
    "(minus the annual contract value given up).",
    "channel_mix": "P(source_channel | segment) for people at accounts of that segment.",
    "initiatives": "The initiative catalogue: id, channel, owning marketing team, and whether "
    "it has spend rows (has_spend false: budget with no spend, deliberately).",
    "volumes": "Row counts per table and stage entries per stage id in the generated data.",
}


def cell_conversion() -> dict[str, FloatArr]:
    """Return each step's eventual conversion per (segment, channel) cell, shape (4, 8)."""
    seg = np.repeat(np.arange(len(SEGMENTS)), len(CHANNELS))
    ch = np.tile(np.arange(len(CHANNELS)), len(SEGMENTS))
    a = P.step_probability("mql_adv", seg, ch)
    s = P.step_probability("sal_sql", seg, ch)
    q = P.step_probability("sql_opp", seg, ch)
    k = P.SKIP_SAL[seg]
    re = P.REENGAGE[seg]
    rm = P.EXIT_SPLIT["mql"][0] * (1 - a)
    rs = P.EXIT_SPLIT["sal"][0] * (1 - s)
    rq = P.EXIT_SPLIT["sql"][0] * (1 - q)
    g = a * (1 - k) * s + a * k  # reach sql from an mql entry within one pass
    # Recycled without passing sal (from mql, or from sql after a skip) -> second pass.
    back_before_sal = (rm + a * k * rq) * re
    mql_sal = a * (1 - k) * (1 + back_before_sal)
    h_sal1 = s + rs * re * g  # from a first-pass sal; second-pass recycles are final
    sal_sql = (h_sal1 + back_before_sal * s) / (1 + back_before_sal)
    back_before_sql = (rm + a * (1 - k) * rs) * re
    h_sql1 = q + rq * re * g * q
    sql_opp = (h_sql1 + back_before_sql * q) / (1 + back_before_sql)
    shape = (len(SEGMENTS), len(CHANNELS))
    return {
        "lead->mql": P.step_probability("lead_mql", seg, ch).reshape(shape),
        "mql->sal": mql_sal.reshape(shape),
        "sal->sql": sal_sql.reshape(shape),
        "sql->opportunity": sql_opp.reshape(shape),
        "opportunity->won": P.step_probability("opp_won", seg, ch).reshape(shape),
    }


def _summaries(p: FloatArr, seg: IntArr, ch: IntArr) -> dict[str, Any]:
    """Average per-record probabilities overall, by segment and by channel."""
    out: dict[str, Any] = {"overall": float(p.mean()) if len(p) else None, "n": len(p)}
    out["by_segment"] = {
        name: float(p[seg == i].mean()) if (seg == i).any() else None
        for i, name in enumerate(SEGMENTS)
    }
    out["by_channel"] = {
        name: float(p[ch == i].mean()) if (ch == i).any() else None
        for i, name in enumerate(CHANNELS)
    }
    return out


def conversion_truth(
    segment: IntArr,
    channel: IntArr,
    variant: IntArr,
    entered: dict[str, BoolArr],
    deal_person: IntArr,
    deal_in_data: BoolArr,
) -> dict[str, Any]:
    """Return the conversion truth for the realised entrants of every step."""
    cells = cell_conversion()
    seg0 = np.maximum(segment, 0)
    out: dict[str, Any] = {}
    for key, (frm, _) in STEP_KEYS.items():
        who = deal_person[deal_in_data] if frm == "opportunity" else np.flatnonzero(entered[frm])
        p = cells[key][seg0[who], channel[who]]
        if key == "lead->mql":
            p = np.where(segment[who] >= 0, p, 0.0) + P.EXPERIMENT_LIFT * (variant[who] == 1)
        out[key] = _summaries(p, segment[who], channel[who])
        out[key]["by_segment_channel"] = {
            s: {c: float(cells[key][i, j]) for j, c in enumerate(CHANNELS)}
            for i, s in enumerate(SEGMENTS)
        }
    return out


def experiment_truth(
    segment: IntArr, channel: IntArr, variant: IntArr, window: tuple[str, str]
) -> dict[str, Any]:
    """Return the experiment's id, window, true rates and lift."""
    units = np.flatnonzero(variant >= 0)
    p = cell_conversion()["lead->mql"][np.maximum(segment[units], 0), channel[units]]
    control = float(p.mean()) if len(p) else None
    return {
        "id": P.EXPERIMENT_ID,
        "unit": "person",
        "metric": "lead->mql",
        "window_start": window[0],
        "window_end": window[1],
        "n_control": int((variant == 0).sum()),
        "n_treatment": int((variant == 1).sum()),
        "control_rate": control,
        "treatment_rate": None if control is None else control + P.EXPERIMENT_LIFT,
        "true_lift": P.EXPERIMENT_LIFT,
    }


def seg_dict(values: FloatArr) -> dict[str, float]:
    """Label a by-segment array."""
    return {s: float(v) for s, v in zip(SEGMENTS, values, strict=True)}


def ch_dict(values: FloatArr) -> dict[str, float]:
    """Label a by-channel array."""
    return {c: float(v) for c, v in zip(CHANNELS, values, strict=True)}


def parameter_truth() -> dict[str, Any]:
    """Return the static parameters: lags, SLA, deal size, churn, funnel and survey."""
    lag_names = {
        "radar->lead": "radar_lead",
        "lead->mql": "lead_out",
        "mql->sal": "mql_decision",
        "sal->sql": "sal_out",
        "sql->opportunity": "sql_out",
        "opportunity->close": "opp_close",
        "recycled->mql": "recycled_mql",
    }
    return {
        "lag_days": {
            k: {"median": seg_dict(P.LAGS[v][0]), "sigma": P.LAGS[v][1]}
            for k, v in lag_names.items()
        },
        "sla_response_hours": {
            f"sdr_{m}": {
                "median": float(P.RESPONSE_HOURS_MEDIAN[i]),
                "sigma": float(P.RESPONSE_HOURS_SIGMA[i]),
            }
            for i, m in enumerate(P.MARKETS)
        },
        "quarter_end_crunch": {"share": P.CRUNCH_SHARE, "days": P.CRUNCH_DAYS},
        "deal_size": {
            "median": seg_dict(P.DEAL_MEDIAN),
            "sigma": P.DEAL_SIGMA,
            "expansion_median": seg_dict(P.DEAL_MEDIAN * P.EXPANSION_SIZE),
            "currency": P.CURRENCY,
        },
        "churn": {
            "annual_probability_by_segment": seg_dict(P.CHURN_P),
            "contraction_probability": P.CONTRACTION_P,
            "contraction_share_range": list(P.CONTRACTION_SHARE),
        },
        "funnel_parameters": {
            "base": dict(P.BASE),
            "seg_mult": {k: seg_dict(v) for k, v in P.SEG_MULT.items()},
            "ch_mult": {k: ch_dict(v) for k, v in P.CH_MULT.items()},
            "clip": [P.P_MIN, P.P_MAX],
            "skip_sal": seg_dict(P.SKIP_SAL),
            "exit_split": {k: list(v) for k, v in P.EXIT_SPLIT.items()},
            "reengage": seg_dict(P.REENGAGE),
            "accountless_share": P.ACCOUNTLESS_SHARE,
            "accountless_lead_disqualified": P.ACCOUNTLESS_LEAD_DQ,
            "radar_share_by_channel": ch_dict(P.RADAR_SHARE),
            "radar_engage": P.RADAR_ENGAGE,
        },
        "channel_mix": {s: ch_dict(P.CHANNEL_MIX[i]) for i, s in enumerate(SEGMENTS)},
        "initiatives": [
            {"id": i.id, "channel": i.channel, "team": i.team, "has_spend": i.budget is not None}
            for i in INITIATIVES
        ],
        "survey": {
            "gap_questions": list(P.SURVEY_GAP_QUESTIONS),
            "gap": P.SURVEY_GAP,
            "wave_improvement": P.SURVEY_WAVE_IMPROVEMENT,
        },
    }


def customers_truth(counts: dict[str, int]) -> dict[str, Any]:
    """Return customer-side parameters with realised counts."""
    return {
        "advocate_probability": seg_dict(P.ADVOCATE_P),
        "advocate_lag_days": {"median": P.ADVOCATE_LAG[0], "sigma": P.ADVOCATE_LAG[1]},
        "expansion_opportunity_probability": seg_dict(P.EXPANSION_OPP_P),
        "expansion_lag_days": {"median": P.EXPANSION_LAG[0], "sigma": P.EXPANSION_LAG[1]},
        "expansion_win_rate": seg_dict(P.EXPANSION_WIN),
        "monthly_cadence_share": P.MONTHLY_CADENCE_SHARE,
        "order_probability": P.ORDER_P,
        "renewal_opportunity_lead_days": P.RENEWAL_LEAD_DAYS,
        "realised": counts,
    }
