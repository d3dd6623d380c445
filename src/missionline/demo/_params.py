"""Northwind's true generation parameters: vocabulary, funnel probabilities, lags and values.

Every number the demo generator draws from lives here, so that the truth written to
``truth.json`` and the simulation read one source. Arrays indexed by segment follow
``SEGMENTS``; arrays indexed by channel follow ``CHANNELS``; arrays indexed by market follow
``MARKETS``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArr = npt.NDArray[np.float64]
IntArr = npt.NDArray[np.int64]
BoolArr = npt.NDArray[np.bool_]

# --- vocabulary -------------------------------------------------------------------------------
SEGMENTS = ("transportation", "computing", "consumer_electronics", "communications")
MARKETS = ("north_america", "europe", "china", "japan")
CHANNELS = (
    "paid_search",
    "events",
    "webinar",
    "content",
    "partner",
    "outbound",
    "referral",
    "organic",
)
STAGES = (
    "radar",
    "lead",
    "mql",
    "sal",
    "sql",
    "disqualified",
    "recycled",
    "opportunity",
    "won",
    "lost",
    "customer",
    "expansion",
    "advocate",
)
STAGE = {name: i for i, name in enumerate(STAGES)}
RECORD_TYPES = ("person", "opportunity", "account")
PERSON, OPPORTUNITY, ACCOUNT = 0, 1, 2
REASONS = (
    # disqualified
    "no_need",
    "competitor",  # also a loss reason
    "student",
    "bad_data",
    # lost
    "price",
    "no_decision",
    "timing",
    # recycled
    "not_ready",
    "no_budget",
)
REASON = {name: i for i, name in enumerate(REASONS)}
TOUCH_KINDS = ("email", "call", "meeting", "event", "ad", "web_visit", "webinar", "demo")
TOUCH_KIND = {name: i for i, name in enumerate(TOUCH_KINDS)}
CURRENCY = "USD"

# --- accounts ---------------------------------------------------------------------------------
REGIONS: dict[str, tuple[tuple[str, ...], tuple[float, ...]]] = {
    "north_america": (("US", "CA", "MX"), (0.80, 0.12, 0.08)),
    "europe": (("DE", "FR", "GB", "IT", "NL", "SE"), (0.30, 0.18, 0.20, 0.12, 0.10, 0.10)),
    "china": (("CN", "HK"), (0.90, 0.10)),
    "japan": (("JP",), (1.0,)),
}
INDUSTRIES: dict[str, tuple[tuple[str, ...], tuple[float, ...]]] = {
    "transportation": (("automotive", "rail", "aerospace", "trucking"), (0.55, 0.15, 0.15, 0.15)),
    "computing": (("datacenter", "pc", "industrial_pc", "storage"), (0.35, 0.30, 0.20, 0.15)),
    "consumer_electronics": (("wearables", "smart_home", "audio", "gaming"), (0.3, 0.3, 0.2, 0.2)),
    "communications": (
        ("networking", "telecom_infrastructure", "satellite", "iot_modules"),
        (0.4, 0.3, 0.1, 0.2),
    ),
}
MARKET_SHARE = np.array([0.35, 0.30, 0.20, 0.15])
# P(segment | market): China leans to consumer electronics, Japan to transportation.
SEGMENT_GIVEN_MARKET = np.array(
    [
        [0.25, 0.32, 0.20, 0.23],
        [0.34, 0.24, 0.18, 0.24],
        [0.18, 0.20, 0.42, 0.20],
        [0.40, 0.20, 0.25, 0.15],
    ]
)
EMPLOYEES_MEDIAN = np.array([8000.0, 3000.0, 1500.0, 4000.0])
EMPLOYEES_SIGMA = 1.1
PEOPLE_PER_ACCOUNT = 8
ACCOUNT_WEIGHT_SIGMA = 1.0  # lognormal spread of how many people an account brings
ACCOUNTLESS_SHARE = 0.04  # people we cannot match to an account (free-mail, students)

# --- people -----------------------------------------------------------------------------------
# Source-channel mix; rows are the four segments, then people without an account.
CHANNEL_MIX = np.array(
    [
        [0.10, 0.22, 0.10, 0.10, 0.15, 0.18, 0.07, 0.08],
        [0.18, 0.10, 0.14, 0.14, 0.08, 0.20, 0.06, 0.10],
        [0.25, 0.12, 0.08, 0.18, 0.12, 0.08, 0.05, 0.12],
        [0.12, 0.18, 0.16, 0.10, 0.14, 0.15, 0.07, 0.08],
        [0.30, 0.05, 0.10, 0.30, 0.00, 0.00, 0.00, 0.25],
    ]
)
# Share of people first known "on the radar" (target-account lists) before they engage.
RADAR_SHARE = np.array([0.05, 0.10, 0.05, 0.10, 0.30, 0.85, 0.05, 0.10])
RADAR_ENGAGE = 0.65  # radar people who later engage and become leads
# Calendar-month seasonality (Jan..Dec) of new people and a gentle growth trend.
SEASONALITY = np.array([0.95, 1.0, 1.1, 1.05, 1.05, 1.0, 0.85, 0.7, 1.05, 1.1, 1.05, 0.75])
TREND_PER_MONTH = 0.015
MQL_SCORE_THRESHOLD = 60.0
MQL_BELOW_THRESHOLD_SHARE = 0.03  # deliberate data defect: MQLs whose lead_score < 60

# --- funnel -----------------------------------------------------------------------------------
# Main-path step probabilities p = clip(BASE * SEG_MULT[segment] * CH_MULT[channel]).
# "mql_adv" is the probability that an MQL entry advances (to sal, or straight to sql).
STEPS = ("lead_mql", "mql_adv", "sal_sql", "sql_opp", "opp_won")
P_MIN, P_MAX = 0.01, 0.95
BASE = {"lead_mql": 0.38, "mql_adv": 0.70, "sal_sql": 0.55, "sql_opp": 0.80, "opp_won": 0.30}
SEG_MULT = {
    "lead_mql": np.array([1.00, 1.15, 0.85, 1.00]),
    "mql_adv": np.array([1.05, 1.00, 0.90, 1.00]),
    "sal_sql": np.array([0.95, 1.10, 0.90, 1.05]),
    "sql_opp": np.array([1.00, 1.05, 0.95, 1.00]),
    "opp_won": np.array([0.85, 1.15, 1.10, 0.95]),
}
CH_MULT = {
    "lead_mql": np.array([0.80, 1.20, 1.15, 0.85, 1.10, 0.75, 1.40, 0.90]),
    "mql_adv": np.array([0.90, 1.05, 1.00, 0.90, 1.10, 1.00, 1.20, 0.95]),
    "sal_sql": np.array([0.90, 1.00, 0.95, 0.90, 1.15, 1.05, 1.25, 1.00]),
    "sql_opp": np.array([1.00, 1.00, 1.00, 0.95, 1.05, 1.00, 1.05, 1.00]),
    "opp_won": np.array([0.85, 1.00, 0.95, 0.90, 1.20, 0.95, 1.35, 1.00]),
}
SKIP_SAL = np.array([0.08, 0.10, 0.06, 0.12])  # share of advancing MQLs that go straight to sql
# Split of the non-advancing mass of a stage entry: (recycled, disqualified); the rest stalls.
EXIT_SPLIT = {"lead": (0.0, 0.30), "mql": (0.40, 0.35), "sal": (0.35, 0.45), "sql": (0.40, 0.30)}
ACCOUNTLESS_LEAD_DQ = 0.60  # people without an account never qualify; most are disqualified
REENGAGE = np.array([0.35, 0.40, 0.30, 0.35])  # recycled on the first pass who become MQL again
EXPERIMENT_ID = "exp_nurture_subject"
EXPERIMENT_MONTHS = (6, 9)  # lead entries in [month 6, month 9) of the window are randomised
EXPERIMENT_LIFT = 0.03  # additive lift of treatment on the lead->mql probability

DQ_REASON_LEAD = {"no_need": 0.35, "competitor": 0.10, "student": 0.20, "bad_data": 0.35}
DQ_REASON_LATER = {"no_need": 0.50, "competitor": 0.30, "student": 0.05, "bad_data": 0.15}
LOSS_REASON = {"price": 0.30, "competitor": 0.28, "no_decision": 0.27, "timing": 0.15}
RECYCLE_REASON = {"not_ready": 0.62, "no_budget": 0.38}

# --- lags: lognormal (median days by segment, sigma) -------------------------------------------
LAGS: dict[str, tuple[FloatArr, float]] = {
    "radar_lead": (np.array([40.0, 30.0, 20.0, 35.0]), 0.7),
    "lead_out": (np.array([14.0, 10.0, 7.0, 12.0]), 0.8),  # lead -> mql / disqualified
    "mql_decision": (np.array([3.0, 2.0, 1.5, 2.5]), 0.7),  # first sales touch -> decision
    "sal_out": (np.array([25.0, 18.0, 12.0, 20.0]), 0.6),
    "sql_out": (np.array([7.0, 5.0, 4.0, 6.0]), 0.5),
    "opp_close": (np.array([110.0, 75.0, 50.0, 90.0]), 0.45),  # before the quarter-end crunch
    "recycled_mql": (np.array([90.0, 75.0, 60.0, 80.0]), 0.45),
}
# Lead response: hours from an MQL entry to the first sales touch, by SDR team (market).
RESPONSE_HOURS_MEDIAN = np.array([3.0, 5.0, 9.0, 6.0])
RESPONSE_HOURS_SIGMA = np.array([1.0, 1.1, 1.2, 0.9])
CRUNCH_SHARE = 0.45  # closes not already in the last two weeks that slip into them
CRUNCH_DAYS = 14.0

# --- deals and customers ----------------------------------------------------------------------
DEAL_MEDIAN = np.array([180_000.0, 120_000.0, 60_000.0, 140_000.0])
DEAL_SIGMA = 0.8
ADVOCATE_P = np.array([0.10, 0.14, 0.08, 0.12])
ADVOCATE_LAG = (200.0, 0.5)
EXPANSION_OPP_P = np.array([0.35, 0.40, 0.25, 0.35])
EXPANSION_LAG = (150.0, 0.6)  # customer -> expansion opportunity created
EXPANSION_CLOSE = (60.0, 0.5)
EXPANSION_WIN = np.array([0.55, 0.60, 0.50, 0.55])
EXPANSION_SIZE = 0.45  # expansion deal median as a share of the segment's new-deal median
CHURN_P = np.array([0.08, 0.12, 0.22, 0.10])  # probability of churning at each anniversary
CONTRACTION_P = 0.12  # renewing customers who renew at a lower value
CONTRACTION_SHARE = (0.10, 0.40)  # uniform range of the contract value given up
MONTHLY_CADENCE_SHARE = 0.5  # customers ordering monthly; the others order quarterly
ORDER_P = 0.85  # a scheduled repeat order actually happens
ORDER_SIGMA = 0.3
RENEWAL_LEAD_DAYS = 60.0  # renewal opportunities open this long before the anniversary

# --- touches ----------------------------------------------------------------------------------
NURTURE_TOUCHES = 2.0  # Poisson mean of marketing touches between lead and its outcome
SALES_FOLLOWUPS = 1.5
DEAL_TOUCHES = 2.0  # plus one: meetings and demos on an opportunity
NURTURE_CHANNEL_MIX = np.array([0.20, 0.10, 0.20, 0.35, 0.05, 0.0, 0.0, 0.10])
# Marketing touch kind per channel (probabilities over TOUCH_KINDS).
CHANNEL_TOUCH_KIND = np.array(
    [
        [0.0, 0.0, 0.0, 0.0, 0.7, 0.3, 0.0, 0.0],
        [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0],
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0],
        [0.5, 0.0, 0.0, 0.0, 0.0, 0.5, 0.0, 0.0],
        [0.4, 0.0, 0.0, 0.4, 0.0, 0.0, 0.2, 0.0],
        [0.6, 0.0, 0.0, 0.0, 0.4, 0.0, 0.0, 0.0],
        [0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0],
        [0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0],
    ]
)
RESPONSE_KIND = {"call": 0.6, "email": 0.4}
FOLLOWUP_KIND = {"call": 0.4, "email": 0.3, "meeting": 0.3}
DEAL_KIND = {"meeting": 0.55, "demo": 0.30, "call": 0.15}

# --- survey -----------------------------------------------------------------------------------
SURVEY_FUNCTIONS = {"marketing": 18, "sales": 18, "customer_success": 4}
SURVEY_QUESTIONS = 20
SURVEY_GAP_QUESTIONS = ("q03", "q05", "q09", "q14", "q17")
SURVEY_GAP = 0.8  # marketing's latent score exceeds sales' by this on the gap questions
SURVEY_WAVE_MONTHS = (4, 16)
SURVEY_WAVE_IMPROVEMENT = 0.2


def step_probability(step: str, segment: IntArr, channel: IntArr) -> FloatArr:
    """Return clip(base * seg_mult * ch_mult) for each (segment, channel) pair given."""
    p = BASE[step] * SEG_MULT[step][segment] * CH_MULT[step][channel]
    return np.clip(p, P_MIN, P_MAX)


def lognormal(
    rng: np.random.Generator, median: FloatArr | float, sigma: float | FloatArr, size: int
) -> FloatArr:
    """Draw lognormal values with the given median(s) and log-scale sigma(s)."""
    return np.asarray(median * np.exp(sigma * rng.standard_normal(size)), dtype=np.float64)


def lag(rng: np.random.Generator, name: str, segment: IntArr) -> FloatArr:
    """Draw the named stage lag (days) for each record of the given segments."""
    medians, sigma = LAGS[name]
    return lognormal(rng, medians[segment], sigma, len(segment))


def categorical(
    rng: np.random.Generator, probs: dict[str, float], codes: dict[str, int], size: int
) -> IntArr:
    """Draw codes from a small categorical distribution given as name -> probability."""
    names = list(probs)
    p = np.array([probs[k] for k in names])
    picked = rng.choice(len(names), size=size, p=p / p.sum())
    return np.array([codes[k] for k in names], dtype=np.int64)[picked]
