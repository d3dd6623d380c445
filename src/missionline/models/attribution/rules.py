"""Rule-based attribution: each converting path's credit split over its touches by fixed weights.

Weights per path (they sum to 1; a channel touched twice is credited twice):

* ``first_touch`` / ``last_touch``: all to the first / last touch.
* ``linear``: 1/n to each of the n touches.
* ``u_shaped`` (position-based): 40 % to the first touch, 40 % to the last, 20 % spread evenly
  over the touches between.
* ``w_shaped``: 30 % each to the first touch, the lead-creation touch and the
  opportunity-creation touch, 10 % spread evenly over the other touches.
* ``full_path``: 22.5 % each to those three and to the last touch before the conversion (the
  closed-won touch), 10 % spread evenly over the other touches.
* ``time_decay``: 2^(-Δt / half-life) for a touch Δt days before the conversion.

Milestones that fall on the same touch add up on it (a lead created by the first touch gives
that touch 60 % under ``w_shaped``). When a share has nowhere to go — no touch between the
milestones, or a milestone the path lacks (a lead created before any touch, no opportunity) —
the weights that were placed are scaled up to sum to 1. So a one-touch path gives its touch
everything under every model, and a two-touch path is split 50/50 under ``u_shaped``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from missionline.errors import MissionlineError
from missionline.models.attribution.paths import FloatArray, IntArray, Paths, tally

RULE_MODELS = (
    "first_touch",
    "last_touch",
    "linear",
    "u_shaped",
    "w_shaped",
    "full_path",
    "time_decay",
)
DEFAULT_HALF_LIFE_DAYS = 7.0
# (milestone shares in the order first, lead, opportunity, last; share of the other touches)
POSITION_SHARES: dict[str, tuple[tuple[float, float, float, float], float]] = {
    "u_shaped": ((0.40, 0.0, 0.0, 0.40), 0.20),
    "w_shaped": ((0.30, 0.30, 0.30, 0.0), 0.10),
    "full_path": ((0.225, 0.225, 0.225, 0.225), 0.10),
}
MILESTONE_MODELS = ("w_shaped", "full_path")


def _normalised(weights: FloatArray, path: IntArray, n_paths: int) -> FloatArray:
    """Scale each path's touch weights to sum to 1 (a path with no weight keeps zeros)."""
    totals = tally(path, weights, n_paths)
    safe = np.where(totals > 0, totals, 1.0)
    return weights / safe[path]


def _position_weights(
    paths: Paths, milestones: Sequence[IntArray], shares: Sequence[float], rest: float
) -> FloatArray:
    """Give each milestone touch its share, spread ``rest`` over the others, then normalise.

    ``milestones`` holds, per milestone, the index within each path of its touch (-1: none).
    """
    n = len(paths)
    path = paths.path_of_touch()
    weights = np.zeros(len(paths.codes))
    is_milestone = np.zeros(len(paths.codes), dtype=bool)
    starts = paths.offsets[:-1]
    for index, share in zip(milestones, shares, strict=True):
        if share == 0:
            continue  # not a milestone of this model (the last touch under w_shaped)
        present = np.flatnonzero(index >= 0)
        touch = starts[present] + index[present]
        is_milestone[touch] = True
        np.add.at(weights, touch, share)
    others = tally(path, ~is_milestone, n)
    spread = np.where(others > 0, rest / np.where(others > 0, others, 1.0), 0.0)
    weights += np.where(is_milestone, 0.0, spread[path])
    return _normalised(weights, path, n)


def _milestone(paths: Paths, name: str, model: str) -> IntArray:
    """A milestone's touch index per path, or a clear error when the paths do not know it."""
    index = paths.lead_touch if name == "lead" else paths.opportunity_touch
    if index is None:
        raise MissionlineError(
            f"{model} needs the lead- and opportunity-creation touches, which paths read from "
            "a paths file do not carry; use a workspace, or a model without milestones"
        )
    return index


def touch_weights(
    paths: Paths, model: str, half_life_days: float = DEFAULT_HALF_LIFE_DAYS
) -> FloatArray:
    """Return each touch's share of its path's credit under a rule-based model."""
    lengths = paths.lengths
    first = np.where(lengths > 0, 0, -1)
    last = lengths - 1
    none = np.full(len(paths), -1, dtype=np.int64)
    if model == "first_touch":
        return _position_weights(paths, [first], [1.0], 0.0)
    if model == "last_touch":
        return _position_weights(paths, [last], [1.0], 0.0)
    if model == "linear":
        return _position_weights(paths, [], [], 1.0)
    if model in POSITION_SHARES:
        shares, rest = POSITION_SHARES[model]
        lead = _milestone(paths, "lead", model) if model in MILESTONE_MODELS else none
        opportunity = _milestone(paths, "opp", model) if model in MILESTONE_MODELS else none
        return _position_weights(paths, [first, lead, opportunity, last], shares, rest)
    if model == "time_decay":
        if paths.days is None:
            raise MissionlineError(
                "time_decay needs the time of each touch, which paths read from a paths file "
                "do not carry; use a workspace, or another model"
            )
        if not half_life_days > 0:
            raise MissionlineError(f"the half-life must be above 0 days, not {half_life_days}")
        path = paths.path_of_touch()
        days = np.maximum(paths.days, 0.0)
        # Measured from each path's most recent touch: the same ratios, without underflow.
        nearest = np.full(len(paths), np.inf)
        np.minimum.at(nearest, path, days)
        weights = np.exp2(-(days - nearest[path]) / half_life_days)
        return _normalised(weights, path, len(paths))
    raise MissionlineError(
        f"unknown rule-based model {model!r}; use one of {', '.join(RULE_MODELS)}"
    )


def rule_credit(
    paths: Paths, model: str, half_life_days: float = DEFAULT_HALF_LIFE_DAYS
) -> tuple[FloatArray, FloatArray]:
    """Return (conversions, value) credited to each channel under a rule-based model."""
    weights = touch_weights(paths, model, half_life_days)
    path = paths.path_of_touch()
    size = len(paths.channels)
    conversions = tally(paths.codes, weights * paths.conversions[path], size)
    value = tally(paths.codes, weights * paths.value[path], size)
    return conversions, value
