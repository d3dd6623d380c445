"""The shifted-beta-geometric (sBG) retention model (Fader & Hardie 2007).

In a contractual business each customer renews at the end of every period with probability
1 - θ, θ ~ Beta(alpha, β) across customers. A customer lost in period t contributes
P(T = t) = B(alpha+1, β+t-1) / B(alpha, β); one still active after t periods contributes
S(t) = B(alpha, β+t) / B(alpha, β). The retention rate of period t is (β+t-1) / (alpha+β+t-1).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import betaln

from missionline.errors import MissionlineError
from missionline.models.clv.fitting import FitResult, FloatArray, grouped, maximise
from missionline.models.clv.validation import check_survival, require_columns

NAMES = ("alpha", "beta")


def log_likelihood(
    theta: FloatArray, lost_at: FloatArray, lost: FloatArray, kept_at: FloatArray, kept: FloatArray
) -> float:
    """Return the total log-likelihood: ``lost`` customers lost in period ``lost_at``, ``kept``
    still active after ``kept_at`` periods."""
    alpha, beta = theta
    base = betaln(alpha, beta)
    churn = betaln(alpha + 1, beta + lost_at - 1) - base
    survive = betaln(alpha, beta + kept_at) - base
    return float(np.dot(lost, churn) + np.dot(kept, survive))


def _fit(lost_at: FloatArray, lost: FloatArray, kept_at: FloatArray, kept: FloatArray) -> FitResult:
    """Maximise the sBG likelihood of churn and survival counts."""
    if not lost.sum():
        raise MissionlineError(
            "the retention model needs at least one lost customer; nobody churned in the data"
        )
    return maximise(
        "sbg",
        NAMES,
        lambda theta: log_likelihood(theta, lost_at, lost, kept_at, kept),
        np.array([1.0, 1.0]),
        int(lost.sum() + kept.sum()),
    )


def fit_sbg(survival: pd.DataFrame) -> FitResult:
    """Fit the sBG model to one cohort's survival table (``period``, ``alive``)."""
    table = check_survival(survival)
    alive = table["alive"].to_numpy(dtype=np.float64)
    periods = np.arange(1, len(alive), dtype=np.float64)
    return _fit(periods, alive[:-1] - alive[1:], periods[-1:], alive[-1:])


def fit_sbg_contracts(contracts: pd.DataFrame) -> FitResult:
    """Fit the sBG model to customers of any start date (``periods`` renewed, ``churned``).

    A churned customer was lost in period ``periods + 1``; any other is still active after
    ``periods`` periods (right-censored), so cohorts of different ages combine.
    """
    require_columns(contracts, ("periods", "churned"), "contract table", None)
    frame = pd.DataFrame(
        {
            "periods": contracts["periods"].astype(np.float64),
            "churned": contracts["churned"].astype(bool),
        }
    )
    lost = frame[frame["churned"]]
    kept = frame[~frame["churned"]]
    (lost_at,), lost_n = grouped(lost.assign(at=lost["periods"] + 1), ["at"])
    (kept_at,), kept_n = grouped(kept, ["periods"])
    return _fit(lost_at, lost_n, kept_at, kept_n)


def survival_curve(params: dict[str, float], periods: int) -> pd.DataFrame:
    """Return S(t) and the retention rate of periods 0..``periods`` (rate null at period 0)."""
    alpha, beta = params["alpha"], params["beta"]
    t = np.arange(periods + 1, dtype=np.float64)
    survival = np.exp(betaln(alpha, beta + t) - betaln(alpha, beta))
    rate = np.r_[np.nan, (beta + t[1:] - 1) / (alpha + beta + t[1:] - 1)]
    return pd.DataFrame({"period": t.astype(int), "survival": survival, "retention_rate": rate})
