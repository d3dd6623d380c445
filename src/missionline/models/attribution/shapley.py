"""Shapley-value attribution over the channel sets of the paths (order and repeats ignored).

The players are the channels; a coalition S is worth v(S), computed from the paths whose set
of channels is a subset of S (the journeys that S alone could have produced):

* ``conversions`` (the default): v(S) = the conversions of those paths. This is the value
  function of Zhao, Mahboobi & Bagheri (2018), "Shapley Value Methods for Attribution Modeling
  in Online Advertising" (arXiv:1804.05327). The game is a sum of unanimity games, one per
  channel set T weighted by its conversions R(T), so the Shapley value has their simplified
  closed form φ(c) = Σ over sets T containing c of R(T) ÷ |T|: each path's conversions are
  split evenly over its distinct channels. It is exact for any number of channels.
* ``conversion_rate``: v(S) = conversions ÷ journeys of those paths (0 when there are none).
  This game is not additive. Up to 15 channels it is solved exactly by enumerating the 2^n
  coalitions: v from subset sums over the channel sets, then
  φ(c) = Σ over S without c of |S|! (n - |S| - 1)! ÷ n! · (v(S + {c}) - v(S)).
  Beyond 15 channels φ is estimated by averaging each channel's marginal contribution over
  random channel orders (permutation sampling); the standard error of that mean,
  sd ÷ √samples, is reported for every channel. The values sum to v(all channels), the overall
  conversion rate, so channel c is credited journeys · φ(c) conversions, which sum to the
  total. A channel whose paths convert worse than the others' gets negative credit.

Conversion value is attributed the same way with value in place of conversions.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import factorial

import numpy as np

from missionline.errors import MissionlineError
from missionline.models.attribution.paths import FloatArray, IntArray, Paths, run_starts, tally

VALUE_FUNCTIONS = ("conversions", "conversion_rate")
MAX_EXACT_CHANNELS = 15
DEFAULT_SAMPLES = 2000


@dataclass(frozen=True)
class ShapleyResult:
    """Credit per channel; with sampling, the standard error of the conversions credit."""

    conversions: FloatArray
    value: FloatArray
    standard_errors: FloatArray | None = None
    samples: int | None = None


def _pairs(paths: Paths) -> tuple[IntArray, IntArray]:
    """Return (path, channel) for each distinct channel of each path, sorted by path."""
    size = len(paths.channels)
    pair = paths.path_of_touch() * size + paths.codes
    # Already ordered by path: a stable sort only reorders within paths (fast on such runs).
    pair.sort(kind="stable")
    pair = pair[run_starts(pair)]
    return pair // size, pair % size


def _closed_form(paths: Paths) -> ShapleyResult:
    """The simplified formula: each path's outcome split evenly over its distinct channels."""
    path, channel = _pairs(paths)
    distinct = np.bincount(path, minlength=len(paths))
    share = 1.0 / distinct[path]
    size = len(paths.channels)
    return ShapleyResult(
        tally(channel, paths.conversions[path] * share, size),
        tally(channel, paths.value[path] * share, size),
    )


def _subset_sums(per_set: FloatArray, n: int) -> FloatArray:
    """For every coalition mask S, the sum of ``per_set`` over the masks that are subsets of S."""
    total = per_set.copy()
    for bit in range(n):
        view = total.reshape(-1, 2, 1 << bit)
        view[:, 1, :] += view[:, 0, :]
    return total


def exact_shapley(worth: FloatArray, n: int) -> FloatArray:
    """Return the Shapley value of every player of a game given as v(mask) for all 2^n masks."""
    masks = np.arange(1 << n, dtype=np.int64)
    size = np.zeros(len(masks), dtype=np.int64)
    for bit in range(n):
        size += (masks >> bit) & 1
    weight = np.array([factorial(s) * factorial(n - s - 1) / factorial(n) for s in range(n)])
    phi = np.zeros(n)
    for player in range(n):
        without = masks[((masks >> player) & 1) == 0]
        gain = worth[without | (1 << player)] - worth[without]
        phi[player] = float(np.sum(weight[size[without]] * gain))
    return phi


def _rates(numerator: FloatArray, journeys: FloatArray) -> FloatArray:
    """numerator ÷ journeys, 0 where there are no journeys."""
    return np.where(journeys > 0, numerator / np.where(journeys > 0, journeys, 1.0), 0.0)


def _exact_rate(paths: Paths) -> ShapleyResult:
    """Enumerate every coalition of the conversion-rate game (at most 15 channels)."""
    n = len(paths.channels)
    path, channel = _pairs(paths)
    starts = np.flatnonzero(run_starts(path))
    masks = np.bitwise_or.reduceat(np.left_shift(1, channel), starts)
    owners = path[starts]
    coalitions = 1 << n
    sums = {
        name: _subset_sums(tally(masks, array[owners], coalitions), n)
        for name, array in (
            ("conversions", paths.conversions),
            ("value", paths.value),
            ("journeys", paths.journeys),
        )
    }
    journeys = float(paths.journeys.sum())
    return ShapleyResult(
        journeys * exact_shapley(_rates(sums["conversions"], sums["journeys"]), n),
        journeys * exact_shapley(_rates(sums["value"], sums["journeys"]), n),
    )


def _sampled_rate(paths: Paths, samples: int, seed: int) -> ShapleyResult:
    """Average marginal contributions over random channel orders, with their standard error."""
    n = len(paths.channels)
    path, channel = _pairs(paths)
    starts = np.flatnonzero(run_starts(path))
    owners = path[starts]
    conversions, value = paths.conversions[owners], paths.value[owners]
    journeys = paths.journeys[owners]
    rng = np.random.default_rng(seed)
    gains = np.zeros((2, samples, n))
    for s in range(samples):
        position = np.empty(n, dtype=np.int64)
        position[rng.permutation(n)] = np.arange(n)
        # A path joins the coalition when the last of its channels does.
        joins = np.maximum.reduceat(position[channel], starts)
        reached = np.cumsum(tally(joins, journeys, n))
        for k, numerator in enumerate((conversions, value)):
            rate = _rates(np.cumsum(tally(joins, numerator, n)), reached)
            gains[k, s] = np.diff(rate, prepend=0.0)[position]
    total = float(paths.journeys.sum())
    spread = gains[0].std(axis=0, ddof=1) if samples > 1 else np.full(n, np.nan)
    return ShapleyResult(
        total * gains[0].mean(axis=0),
        total * gains[1].mean(axis=0),
        total * spread / np.sqrt(samples),
        samples,
    )


def shapley_credit(
    paths: Paths,
    value_function: str = "conversions",
    samples: int = DEFAULT_SAMPLES,
    seed: int = 0,
    max_exact_channels: int = MAX_EXACT_CHANNELS,
) -> ShapleyResult:
    """Return the Shapley credit per channel (sampled only for conversion_rate beyond the limit)."""
    if value_function not in VALUE_FUNCTIONS:
        raise MissionlineError(
            f"unknown Shapley value function {value_function!r}; use {' or '.join(VALUE_FUNCTIONS)}"
        )
    if value_function == "conversions":
        return _closed_form(paths)
    if len(paths.channels) <= max_exact_channels:
        return _exact_rate(paths)
    if samples < 2:
        raise MissionlineError(f"Shapley sampling needs at least 2 samples, not {samples}")
    return _sampled_rate(paths, samples, seed)
