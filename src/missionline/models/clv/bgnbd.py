"""The BG/NBD model (Fader, Hardie & Lee 2005): purchases while alive, dropout after a purchase.

A customer buys at rate λ ~ Gamma(r, alpha) while alive and, after each repeat purchase, drops out
with probability p ~ Beta(a, b). The likelihood of (x, t_x, T) is (FHL 2005, eq. 6)::

    L = B(a, b+x)/B(a, b) · Γ(r+x) alpha^r / (Γ(r) (alpha+T)^(r+x))
      + [x > 0] B(a+1, b+x-1)/B(a, b) · Γ(r+x) alpha^r / (Γ(r) (alpha+t_x)^(r+x))

evaluated in log space (gammaln, logaddexp) with its analytic gradient, on the unique
(x, t_x, T) rows weighted by their counts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import digamma, expit, gammaln, hyp2f1

from missionline.models.clv.fitting import FitResult, FloatArray, grouped, maximise
from missionline.models.clv.validation import SUMMARY_COLUMNS, check_summary

NAMES = ("r", "alpha", "a", "b")


def _log_terms(
    theta: FloatArray, x: FloatArray, t_x: FloatArray, T: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Return the common factor and the two log terms of the likelihood, per row.

    The beta functions are written with gammaln (ln B(a, b+x) - ln B(a, b) needs no Γ(a)), which
    halves the special-function work of betaln.
    """
    r, alpha, a, b = theta
    shared = gammaln(a + b) - gammaln(b) - gammaln(a + b + x)
    common = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    alive = shared + gammaln(b + x) - (r + x) * np.log(alpha + T)
    # The dropout term exists only after a repeat purchase; b + x - 1 is kept valid elsewhere.
    dropped = np.where(
        x > 0,
        shared + np.log(a) + gammaln(b + np.maximum(x - 1, 0)) - (r + x) * np.log(alpha + t_x),
        -np.inf,
    )
    return common, alive, dropped


def log_likelihood(theta: FloatArray, x: FloatArray, t_x: FloatArray, T: FloatArray) -> FloatArray:
    """Return each row's log-likelihood at ``theta = (r, alpha, a, b)``."""
    common, alive, dropped = _log_terms(theta, x, t_x, T)
    return np.asarray(common + np.logaddexp(alive, dropped), dtype=np.float64)


def value_and_gradient(
    theta: FloatArray, x: FloatArray, t_x: FloatArray, T: FloatArray, weights: FloatArray
) -> tuple[float, FloatArray]:
    """Return the weighted total log-likelihood and its gradient in (r, alpha, a, b)."""
    r, alpha, a, b = theta
    common, alive, dropped = _log_terms(theta, x, t_x, T)
    total = np.logaddexp(alive, dropped)
    p_alive, p_dropped = np.exp(alive - total), np.exp(dropped - total)
    shared = digamma(a + b) - digamma(a + b + x)
    d_r = (
        digamma(r + x)
        - digamma(r)
        + np.log(alpha)
        - p_alive * np.log(alpha + T)
        - p_dropped * np.log(alpha + t_x)
    )
    d_alpha = r / alpha - (r + x) * (p_alive / (alpha + T) + p_dropped / (alpha + t_x))
    d_a = shared + p_dropped / a
    d_b = (
        shared
        - digamma(b)
        + p_alive * digamma(b + x)
        + p_dropped * digamma(b + np.maximum(x - 1, 0))
    )
    gradient = np.array([np.dot(weights, d) for d in (d_r, d_alpha, d_a, d_b)])
    return float(np.dot(weights, common + total)), gradient


def start_values(x: FloatArray, T: FloatArray, weights: FloatArray) -> FloatArray:
    """Return starting values scaled to the data's time unit: mean rate r/alpha near x̄/T̄."""
    mean_x = max(float(np.average(x, weights=weights)), 0.1)
    mean_t = max(float(np.average(T, weights=weights)), 1e-3)
    return np.array([1.0, mean_t / mean_x, 1.0, 1.0])


def fit_bgnbd(summary: pd.DataFrame) -> FitResult:
    """Fit the BG/NBD model to a summary (``frequency``, ``recency``, ``T``) by weighted MLE."""
    summary = check_summary(summary)
    (x, t_x, T), weights = grouped(summary, SUMMARY_COLUMNS)
    return maximise(
        "bgnbd",
        NAMES,
        lambda theta: float(np.dot(weights, log_likelihood(theta, x, t_x, T))),
        start_values(x, T, weights),
        len(summary),
        lambda theta: value_and_gradient(theta, x, t_x, T, weights),
    )


def p_alive(params: dict[str, float], x: FloatArray, t_x: FloatArray, T: FloatArray) -> FloatArray:
    """Return P(alive at T | x, t_x, T) (FHL 2005 note: 0 repeat purchases means alive)."""
    r, alpha, a, b = (params[n] for n in NAMES)
    log_odds = np.where(
        x > 0,
        np.log(a)
        - np.log(b + np.maximum(x - 1, 0))
        + (r + x) * np.log((alpha + T) / (alpha + t_x)),
        -np.inf,
    )
    return np.asarray(expit(-log_odds), dtype=np.float64)


def expected_purchases(
    params: dict[str, float], x: FloatArray, t_x: FloatArray, T: FloatArray, t: float | FloatArray
) -> FloatArray:
    """Return E[purchases in (T, T+t] | x, t_x, T] (FHL 2005, eq. 10).

    Euler's transformation rewrites ((alpha+T)/(alpha+T+t))^(r+x) · 2F1(r+x, b+x; a+b+x-1; z) as
    (1-z)^(a-1) · 2F1(a+b-1-r, a-1; a+b+x-1; z), which stays finite for long horizons.
    """
    r, alpha, a, b = (params[n] for n in NAMES)
    z = t / (alpha + T + t)
    c = a + b + x - 1
    bracket = 1 - (1 - z) ** (a - 1) * hyp2f1(a + b - 1 - r, a - 1, c, z)
    return np.asarray(c / (a - 1) * bracket * p_alive(params, x, t_x, T), dtype=np.float64)
