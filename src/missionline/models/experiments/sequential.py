"""Always-valid inference: the mixture sequential probability ratio test (mSPRT).

Johari, Koomen, Pekelis and Walsh (2017), "Peeking at A/B tests: why it matters, and what to
do about it" (KDD '17), for the difference of two means with a normal mixing distribution
``theta ~ N(0, tau^2)``. With the estimated lift ``d`` and its variance ``V`` (the sum of the two
variants' ``variance / n``), the mixture likelihood ratio against ``theta = theta0`` is::

    Lambda = sqrt(V / (V + tau^2)) * exp(tau^2 (d - theta0)^2 / (2 V (V + tau^2)))

The always-valid p-value is ``min(1, 1 / Lambda(0))`` and the always-valid interval is every
``theta0`` with ``Lambda(theta0) < 1 / alpha``::

    d +/- sqrt(V (V + tau^2) / tau^2 * (2 log(1 / alpha) + log(1 + tau^2 / V)))

Rejecting whenever the p-value falls below alpha, at any number of looks, keeps the false
positive rate at most alpha (Ville's inequality).

Choice of tau: ``tau^2 = x* V_plan``, where ``V_plan`` is the lift's variance at the planned
sample per variant and ``x*`` solves ``x = -2 log(alpha) + log(1 + x)``: the mixing variance
that makes the always-valid interval narrowest when the planned sample is reached. Without a
plan the current sample stands in for the planned one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from missionline.models.experiments.stats import Interval, Moments


@dataclass(frozen=True)
class SequentialEstimate:
    """The always-valid p-value and interval of a lift, and the mixing variance used."""

    p_value: float
    ci: Interval
    tau2: float


def optimal_ratio(alpha: float) -> float:
    """The ``tau^2 / V`` that minimises the always-valid interval's width at variance ``V``."""
    c = -2 * math.log(alpha)
    x = c
    for _ in range(100):  # a contraction (slope 1 / (1 + x) < 1): converges in a few steps
        nxt = c + math.log1p(x)
        if abs(nxt - x) < 1e-12:
            break
        x = nxt
    return x


def mixing_variance(alpha: float, variance_at_plan: float) -> float:
    """``tau^2`` tuned so the interval is narrowest when the lift's variance is the planned one."""
    return optimal_ratio(alpha) * variance_at_plan


def msprt(control: Moments, treatment: Moments, alpha: float, tau2: float) -> SequentialEstimate:
    """The mSPRT p-value and always-valid interval of ``treatment.mean - control.mean``."""
    diff = treatment.mean - control.mean
    v = control.sampling_variance + treatment.sampling_variance
    if not v > 0 or not tau2 > 0:
        return SequentialEstimate(1.0 if diff == 0 else 0.0, (diff, diff), tau2)
    log_lr = 0.5 * math.log(v / (v + tau2)) + tau2 * diff**2 / (2 * v * (v + tau2))
    p_value = math.exp(-log_lr) if log_lr > 0 else 1.0
    half = math.sqrt(v * (v + tau2) / tau2 * (-2 * math.log(alpha) + math.log1p(tau2 / v)))
    return SequentialEstimate(p_value, (diff - half, diff + half), tau2)
