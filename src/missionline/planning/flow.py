"""The forward flow: where the records already in the funnel are expected to arrive, and when.

A record that entered stage k on day t reaches k+1 with the step's conversion, after a lag
drawn from the step's distribution. For a cohort of entries the expected arrivals after a
moment are ``entries * conversion * (share of the lag distribution still ahead)``, whoever
among them has already moved on: so the expected future arrivals at the won stage are the sum,
over the stages, of the entries before the moment flowed down the rest of the ladder (the
arrivals already made are counted at the next stage, as its own entries). Records entering the
first stage after the moment are not counted.

The uncertainty (:func:`simulate`) draws each measured step's cohort conversion from its Beta
posterior (uniform prior, the cohort's entries and conversions), then the number of won deals
per period from a Poisson with the resulting mean, then each deal's amount from the won amounts
of the lookback window (a bootstrap).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from missionline.planning.assumptions import Step


def won_arrivals(entries: Sequence[np.ndarray], steps: Sequence[Step], now: int) -> np.ndarray:
    """Expected won arrivals per day from ``now`` on, one row per origin stage.

    ``entries[k]`` holds stage k's actual first entries per day of the axis (only the days
    before index ``now`` are read). Row k is the flow of stage k's entries.
    """
    days = len(entries[0])
    out = np.zeros((len(steps), days))
    for origin in range(len(steps)):
        flow = np.where(np.arange(days) < now, entries[origin], 0.0)
        for j in range(origin, len(steps)):
            step = steps[j]
            if step.conversion is None:
                flow = np.full(days, np.nan)
                break
            flow = np.convolve(flow, step.lag)[:days] * step.conversion
            flow[:now] = 0.0  # arrivals before now are the next stage's actual entries
        out[origin] = flow
    return out


def _ratios(steps: Sequence[Step], draws: int, rng: np.random.Generator) -> np.ndarray:
    """Per draw and step: a drawn conversion over the assumed one (1 for the plan's numbers)."""
    out = np.ones((draws, len(steps)))
    for j, step in enumerate(steps):
        if step.reach is None or not step.entries or not step.conversion:
            continue
        won = step.reach * step.entries
        drawn = rng.beta(won + 1, step.entries - won + 1, draws)
        out[:, j] = drawn / (1 - (step.side_share or 0.0)) / step.conversion
    return out


def simulate(
    expected: np.ndarray,
    steps: Sequence[Step],
    amounts: np.ndarray,
    deal_size: float | None,
    draws: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Simulated won value per draw and period bucket.

    ``expected`` is (origin stage, bucket): the expected won deals per bucket from each origin;
    with ``deal_size`` None the value is the number of deals, else their amounts.
    """
    ratios = _ratios(steps, draws, rng)
    # a stage's flow passes every later step: its scale is the product of their ratios
    scale = np.cumprod(ratios[:, ::-1], axis=1)[:, ::-1]
    means = np.clip(scale @ np.nan_to_num(expected), 0.0, None)
    deals = rng.poisson(means)
    if deal_size is None:
        return deals.astype(float)
    if not len(amounts):
        return deals * deal_size
    total = int(deals.sum())
    picks = rng.choice(amounts, total) if total else np.zeros(0)
    ends = np.cumsum(deals.ravel())
    sums = np.diff(np.concatenate([[0.0], np.cumsum(picks)])[np.concatenate([[0], ends])])
    return sums.reshape(deals.shape)
