"""Bayesian comparison: the chance that a treatment beats the control, and the expected loss.

* Conversions: independent beta(1, 1) priors, so each rate's posterior is
  beta(1 + conversions, 1 + units - conversions). The chance to win ``P(T > C)`` and the
  expected loss ``E[max(C - T, 0)]`` (what choosing the treatment costs, in rate points, when it
  is in fact worse) are one-dimensional integrals over the treatment's posterior, computed by
  adaptive quadrature (``scipy.integrate.quad``) with the control's beta CDF and its partial
  expectation in closed form.
* Values and CUPED-adjusted outcomes: the normal approximation, each mean ~ N(mean, var / n)
  (a flat prior), so the lift ~ N(d, s^2): chance ``Phi(d / s)``, loss
  ``s phi(d / s) - d Phi(-d / s)``.

With ``direction="decrease"`` the treatment wins by being lower, and the loss is what it adds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from scipy import integrate
from scipy import stats as sps

from missionline.models.experiments.stats import STANDARD_NORMAL, Moments, VariantStats

Direction = Literal["increase", "decrease"]
TAIL = 1e-12  # the treatment posterior mass left out of the integration range


@dataclass(frozen=True)
class BayesEstimate:
    """The chance that the treatment beats the control, and the expected loss of choosing it."""

    chance_to_win: float
    expected_loss: float


def _beta_chance_and_loss(a_t: float, b_t: float, a_c: float, b_c: float) -> BayesEstimate:
    """P(T > C) and E[max(C - T, 0)] for independent T ~ beta(a_t, b_t), C ~ beta(a_c, b_c)."""
    treatment, control = sps.beta(a_t, b_t), sps.beta(a_c, b_c)
    control_mean = a_c / (a_c + b_c)
    upper_mean = sps.beta(a_c + 1, b_c)  # E[C; C > y] = mean * P(beta(a_c + 1, b_c) > y)
    lo, hi = float(treatment.ppf(TAIL)), float(treatment.isf(TAIL))
    mode = min(max((a_t - 1) / (a_t + b_t - 2), lo), hi) if a_t + b_t > 2 else (lo + hi) / 2
    options = {"points": [mode], "limit": 200, "epsabs": 1e-13, "epsrel": 1e-10}

    def chance(y: float) -> float:
        return float(treatment.pdf(y) * control.cdf(y))

    def loss(y: float) -> float:
        partial = control_mean * upper_mean.sf(y) - y * control.sf(y)
        return float(treatment.pdf(y) * partial)

    won = integrate.quad(chance, lo, hi, **options)[0]
    lost = integrate.quad(loss, lo, hi, **options)[0]
    return BayesEstimate(min(max(won, 0.0), 1.0), max(lost, 0.0))


def beta_binomial(
    control: VariantStats, treatment: VariantStats, direction: Direction = "increase"
) -> BayesEstimate:
    """Chance to win and expected loss of a conversion with beta(1, 1) priors."""
    a_c, b_c = 1 + control.total, 1 + control.n - control.total
    a_t, b_t = 1 + treatment.total, 1 + treatment.n - treatment.total
    if direction == "decrease":  # 1 - rate is beta(b, a): a lower rate wins
        a_c, b_c, a_t, b_t = b_c, a_c, b_t, a_t
    return _beta_chance_and_loss(a_t, b_t, a_c, b_c)


def normal_approximation(
    control: Moments, treatment: Moments, direction: Direction = "increase"
) -> BayesEstimate | None:
    """Chance to win and expected loss with normal posteriors of the two means."""
    if control.n < 2 or treatment.n < 2:
        return None
    diff = treatment.mean - control.mean
    if direction == "decrease":
        diff = -diff
    sd = math.sqrt(control.sampling_variance + treatment.sampling_variance)
    if sd == 0:
        return BayesEstimate(0.5 if diff == 0 else float(diff > 0), max(-diff, 0.0))
    z = diff / sd
    loss = sd * STANDARD_NORMAL.pdf(z) - diff * STANDARD_NORMAL.cdf(-z)
    return BayesEstimate(STANDARD_NORMAL.cdf(z), max(loss, 0.0))
