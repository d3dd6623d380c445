"""The Pareto/NBD model (Schmittlein, Morrison & Colombo 1987): purchases until an unseen death.

A customer buys at rate λ ~ Gamma(r, alpha) and dies at rate μ ~ Gamma(s, β), both exponential
in continuous time. The likelihood of (x, t_x, T) (Fader & Hardie 2005, note 009) is::

    L = Γ(r+x) alpha^r β^s / Γ(r) · [ 1 / ((alpha+T)^(r+x) (β+T)^s) + s/(r+s+x) · A0 ]

where, with m = r+s+x and the larger of alpha and β written as ``big``,
``A0 = F(t_x) / (big+t_x)^m - F(T) / (big+T)^m`` and F(t) a Gaussian hypergeometric
function 2F1(m, b; m+1; |alpha-β|/(big+t)) with b = s+1 when alpha >= β, else b = r+x.

Stable evaluation: Euler's transformation 2F1(m, b; m+1; z) = (1-z)^(1-b) 2F1(1, m+1-b; m+1; z)
moves the divergence at z → 1 into a power evaluated in log space, the remaining series has
positive terms and stays moderate; A0 is formed as log(term1) + log1p(-term2/term1), a
positive difference (it is an integral over (t_x, T)) without overflow.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit, gammaln, hyp2f1

from missionline.models.clv.bgnbd import start_values as bgnbd_start
from missionline.models.clv.fitting import FitResult, FloatArray, grouped, maximise
from missionline.models.clv.validation import SUMMARY_COLUMNS, check_summary

NAMES = ("r", "alpha", "s", "beta")


def _log_a0(theta: FloatArray, x: FloatArray, t_x: FloatArray, T: FloatArray) -> FloatArray:
    """Return log A0 per row (minus infinity when t_x equals T)."""
    r, alpha, s, beta = theta
    m = r + s + x
    big, gap = max(alpha, beta), abs(alpha - beta)
    b = np.full_like(x, s + 1.0) if alpha >= beta else r + x

    def log_term(t: FloatArray) -> FloatArray:
        z = gap / (big + t)
        log_f = (1 - b) * np.log1p(-z) + np.log(hyp2f1(1.0, m + 1 - b, m + 1, z))
        return np.asarray(log_f - m * np.log(big + t), dtype=np.float64)

    first, second = log_term(t_x), log_term(T)
    ratio = np.minimum(np.exp(second - first), 1.0)  # rounding may put it a hair above 1
    with np.errstate(divide="ignore"):
        return np.asarray(first + np.log1p(-ratio), dtype=np.float64)


def _log_odds_dead(theta: FloatArray, x: FloatArray, t_x: FloatArray, T: FloatArray) -> FloatArray:
    """Return log(P(dead) / P(alive)) at T: the A0 term over the still-alive term."""
    r, alpha, s, beta = theta
    return np.asarray(
        np.log(s / (r + s + x))
        + _log_a0(theta, x, t_x, T)
        + (r + x) * np.log(alpha + T)
        + s * np.log(beta + T),
        dtype=np.float64,
    )


def log_likelihood(theta: FloatArray, x: FloatArray, t_x: FloatArray, T: FloatArray) -> FloatArray:
    """Return each row's log-likelihood at ``theta = (r, alpha, s, beta)``."""
    r, alpha, s, beta = theta
    log_alive = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    common = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    return np.asarray(
        common + log_alive + np.logaddexp(0.0, _log_odds_dead(theta, x, t_x, T)),
        dtype=np.float64,
    )


def fit_pareto_nbd(summary: pd.DataFrame) -> FitResult:
    """Fit the Pareto/NBD model to a summary (``frequency``, ``recency``, ``T``) by weighted MLE."""
    summary = check_summary(summary)
    (x, t_x, T), weights = grouped(summary, SUMMARY_COLUMNS)
    r, alpha, _, _ = bgnbd_start(x, T, weights)
    start = np.array([r, alpha, 1.0, float(np.average(T, weights=weights)) + 1.0])
    return maximise(
        "pareto_nbd",
        NAMES,
        lambda theta: float(np.dot(weights, log_likelihood(theta, x, t_x, T))),
        start,
        len(summary),
    )


def p_alive(params: dict[str, float], x: FloatArray, t_x: FloatArray, T: FloatArray) -> FloatArray:
    """Return P(alive at T | x, t_x, T)."""
    theta = np.array([params[n] for n in NAMES])
    return np.asarray(expit(-_log_odds_dead(theta, x, t_x, T)), dtype=np.float64)


def expected_purchases(
    params: dict[str, float], x: FloatArray, t_x: FloatArray, T: FloatArray, t: float | FloatArray
) -> FloatArray:
    """Return E[purchases in (T, T+t] | x, t_x, T] (Schmittlein et al. 1987, eq. 22).

    (r+x)(β+T)/(alpha+T) · [1 - ((β+T)/(β+T+t))^(s-1)] / (s-1) · P(alive), whose limit at s = 1
    is the logarithm ln((β+T+t)/(β+T)).
    """
    r, alpha, s, beta = (params[n] for n in NAMES)
    g = np.log1p(t / (beta + T))
    shape = s - 1
    horizon = g if abs(shape) < 1e-9 else -np.expm1(-shape * g) / shape
    rate = (r + x) * (beta + T) / (alpha + T)
    return np.asarray(rate * horizon * p_alive(params, x, t_x, T), dtype=np.float64)
