"""Per-customer predictions from a fitted model: purchases, P(alive), spend and discounted CLV.

Choices (documented in docs/clv.md):

* ``horizon`` is in the summary's time unit (``W`` or ``D``).
* ``discount_rate`` is an **annual** rate d: a purchase at time t (in years) is worth
  (1 + d)^-t today. Purchases are counted per time unit and discounted at the end of the unit
  they fall in (the last, partial unit at the horizon), a slightly conservative convention.
* ``clv`` = margin * expected spend per purchase * Σ expected purchases in each unit *
  discount factor: the discounted expected value of the customer's *future* purchases within
  the horizon (what was already bought is not in it). ``margin`` (default 1) turns revenue
  into profit. Without a spend model ``expected_spend`` and ``clv`` are null.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from types import ModuleType

import numpy as np
import pandas as pd

from missionline.errors import MissionlineError
from missionline.models.clv import bgnbd, gamma_gamma, pareto_nbd
from missionline.models.clv.fitting import FitResult, FloatArray, IntArray, group_index
from missionline.models.clv.summary import days_per_unit
from missionline.models.clv.validation import SUMMARY_COLUMNS, check_summary

DAYS_PER_YEAR = 365.25
PURCHASE_MODELS: dict[str, ModuleType] = {"bgnbd": bgnbd, "pareto_nbd": pareto_nbd}
HOLDOUT_CENSOR = 7
Expected = Callable[[float], FloatArray]


def purchase_model(fit: FitResult) -> ModuleType:
    """Return the module of a purchase model fit (BG/NBD or Pareto/NBD), or raise."""
    if fit.model not in PURCHASE_MODELS:
        raise MissionlineError(
            f"predictions need a purchase model (bgnbd or pareto_nbd), not {fit.model}"
        )
    return PURCHASE_MODELS[fit.model]


def _groups(summary: pd.DataFrame) -> tuple[pd.DataFrame, IntArray]:
    """Return the unique (frequency, recency, T) rows and each customer's row among them."""
    groups, representative = group_index(summary, SUMMARY_COLUMNS)
    unique = summary.iloc[representative][list(SUMMARY_COLUMNS)]
    return unique.reset_index(drop=True), groups


def discount_weights(
    horizon: float, discount_rate: float, time_unit: str
) -> tuple[FloatArray, FloatArray]:
    """Return the ends of the time units up to ``horizon`` and their discount factors."""
    ends = np.append(np.arange(1.0, math.ceil(horizon)), horizon)
    years = ends * days_per_unit(time_unit) / DAYS_PER_YEAR
    return ends, (1.0 + discount_rate) ** -years


def _check(horizon: float, discount_rate: float, margin: float) -> None:
    """Refuse a horizon, discount rate or margin that makes no sense."""
    if not horizon > 0:
        raise MissionlineError(f"the horizon must be positive, not {horizon}")
    if not discount_rate >= 0:
        raise MissionlineError(f"the discount rate must be 0 or more, not {discount_rate}")
    if not margin > 0:
        raise MissionlineError(f"the margin must be positive, not {margin}")


def predict(
    fit: FitResult,
    summary: pd.DataFrame,
    horizon: float,
    spend_fit: FitResult | None = None,
    discount_rate: float = 0.0,
    margin: float = 1.0,
    time_unit: str = "W",
) -> pd.DataFrame:
    """Return per customer: expected purchases over ``horizon``, P(alive), spend and CLV."""
    _check(horizon, discount_rate, margin)
    model = purchase_model(fit)
    if spend_fit is not None and spend_fit.model != "gamma_gamma":
        raise MissionlineError(f"the spend model must be gamma_gamma, not {spend_fit.model}")
    summary = check_summary(summary, monetary=spend_fit is not None)
    unique, rows = _groups(summary)
    x, t_x, T = (unique[c].to_numpy(dtype=np.float64) for c in SUMMARY_COLUMNS)

    def expected(t: float) -> FloatArray:
        return np.asarray(model.expected_purchases(fit.params, x, t_x, T, t))[rows]

    ids = summary["customer_id"] if "customer_id" in summary else summary.index.to_series()
    out = pd.DataFrame(
        {
            "customer_id": ids.astype(str).to_numpy(),
            "frequency": summary["frequency"].to_numpy(dtype=np.float64),
            "recency": summary["recency"].to_numpy(dtype=np.float64),
            "T": summary["T"].to_numpy(dtype=np.float64),
            "expected_purchases": expected(horizon),
            "p_alive": np.asarray(model.p_alive(fit.params, x, t_x, T))[rows],
            "expected_spend": np.nan,
            "clv": np.nan,
        }
    )
    if spend_fit is not None:
        spend = gamma_gamma.expected_spend(
            spend_fit.params,
            out["frequency"].to_numpy(),
            summary["monetary_value"].to_numpy(dtype=np.float64),
        )
        out["expected_spend"] = spend
        out["clv"] = (
            margin * spend * _discounted_purchases(expected, horizon, discount_rate, time_unit)
        )
    return out


def _discounted_purchases(
    expected: Expected, horizon: float, discount_rate: float, time_unit: str
) -> FloatArray:
    """Return Σ over time units of the expected purchases in the unit * its discount factor."""
    ends, factors = discount_weights(horizon, discount_rate, time_unit)
    if discount_rate == 0:
        return expected(horizon)  # the sum telescopes
    total = np.zeros_like(expected(ends[0]))
    before = np.zeros_like(total)
    for end, factor in zip(ends, factors, strict=True):
        cumulative = expected(end)
        total += (cumulative - before) * factor
        before = cumulative
    return total


def holdout_comparison(fit: FitResult, summary: pd.DataFrame) -> pd.DataFrame:
    """Actual vs predicted holdout purchases per number of calibration repeat purchases.

    ``summary`` needs ``holdout_frequency`` and ``holdout_duration`` (see
    :func:`~missionline.models.clv.summary.summarise_transactions`). Customers with
    ``HOLDOUT_CENSOR`` or more repeat purchases share the last row (``7+``).
    """
    model = purchase_model(fit)
    summary = check_summary(summary)
    if "holdout_frequency" not in summary or "holdout_duration" not in summary:
        raise MissionlineError("the comparison needs a summary with a holdout period")
    x, t_x, T = (summary[c].to_numpy(dtype=np.float64) for c in SUMMARY_COLUMNS)
    duration = summary["holdout_duration"].to_numpy(dtype=np.float64)
    predicted = model.expected_purchases(fit.params, x, t_x, T, duration)
    bins = np.minimum(x, HOLDOUT_CENSOR).astype(int)
    frame = pd.DataFrame(
        {"bin": bins, "actual": summary["holdout_frequency"].to_numpy(), "predicted": predicted}
    )
    table = frame.groupby("bin").agg(
        customers=("actual", "size"),
        actual_total=("actual", "sum"),
        predicted_total=("predicted", "sum"),
        actual_mean=("actual", "mean"),
        predicted_mean=("predicted", "mean"),
    )
    labels = [f"{b}+" if b == HOLDOUT_CENSOR else str(b) for b in table.index]
    return table.reset_index(drop=True).assign(calibration_repeat_purchases=labels)[
        [
            "calibration_repeat_purchases",
            "customers",
            "actual_total",
            "predicted_total",
            "actual_mean",
            "predicted_mean",
        ]
    ]
