"""The Gamma-Gamma spend model (Fader, Hardie & Lee 2005; Fader & Hardie 2013, note 025).

Each purchase's value is Gamma(p, nu) around the customer's mean p/nu, with nu ~ Gamma(q, gamma)
across customers. A customer with x repeat purchases of mean value m_x contributes::

    f(m_x) = Γ(px+q) / (Γ(px) Γ(q)) · gamma^q m_x^(px-1) x^(px) / (gamma + x m_x)^(px+q)

It is fitted on the customers with at least one repeat purchase and a positive mean repeat
value (the first purchase is not used: its value is in no customer's m_x).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import gammaln

from missionline.errors import MissionlineError
from missionline.models.clv.fitting import FitResult, FloatArray, grouped, maximise
from missionline.models.clv.validation import check_summary

NAMES = ("p", "q", "gamma")


def log_likelihood(theta: FloatArray, x: FloatArray, m: FloatArray) -> FloatArray:
    """Return each row's log density of the mean repeat value ``m`` at ``theta = (p, q, gamma)``."""
    p, q, gamma = theta
    px = p * x
    return np.asarray(
        gammaln(px + q)
        - gammaln(px)
        - gammaln(q)
        + q * np.log(gamma)
        + (px - 1) * np.log(m)
        + px * np.log(x)
        - (px + q) * np.log(gamma + x * m),
        dtype=np.float64,
    )


def spenders(summary: pd.DataFrame) -> pd.DataFrame:
    """Return the customers the spend model is fitted on: frequency > 0 and a positive value."""
    return summary[(summary["frequency"] > 0) & (summary["monetary_value"] > 0)]


def fit_gamma_gamma(summary: pd.DataFrame) -> FitResult:
    """Fit the Gamma-Gamma model to the repeat buyers of a summary with ``monetary_value``."""
    buyers = spenders(check_summary(summary, monetary=True))
    if buyers.empty:
        raise MissionlineError(
            "the spend model needs customers with a repeat purchase and a positive "
            "monetary_value; the summary has none"
        )
    (x, m), weights = grouped(buyers, ["frequency", "monetary_value"])
    start = np.array([1.0, 2.0, float(np.average(m, weights=weights))])
    return maximise(
        "gamma_gamma",
        NAMES,
        lambda theta: float(np.dot(weights, log_likelihood(theta, x, m))),
        start,
        len(buyers),
    )


def expected_spend(params: dict[str, float], x: FloatArray, m: FloatArray) -> FloatArray:
    """Return E[value of a purchase | x, m_x] = p(gamma + x m_x) / (px + q - 1).

    A customer without repeat purchases gets the population mean pgamma / (q - 1); with q <= 1 that
    mean is infinite and the result is null (NaN).
    """
    p, q, gamma = (params[n] for n in NAMES)
    weighted = np.where(x > 0, x * np.nan_to_num(m), 0.0)
    denominator = p * x + q - 1
    with np.errstate(divide="ignore", invalid="ignore"):
        value = p * (gamma + weighted) / denominator
    return np.asarray(np.where(denominator > 0, value, np.nan), dtype=np.float64)
