"""Markov attribution benchmark: the exact absorbing-chain solve against a simulation.

Target (issue #8): ``attribute(paths, "markov")`` on 1,000,000 aggregated paths over 12
channels in <= 1 s. The baseline is the ``ChannelAttribution`` package's ``markov_model``
(which estimates removal effects by simulating journeys) on the same paths, when it is
installed (``pip install ChannelAttribution``; it is not a missionline dependency). Reported:
both times, their ratio, and the largest absolute difference in the channels' attributed shares.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from benchmarks.common import best_of
from missionline.models.attribution import attribute
from missionline.models.attribution.paths import paths_from_frame

FULL_PATHS = 1_000_000
SMOKE_PATHS = 20_000
CHANNELS = 12
TARGET_S = 1.0


def synthetic_paths(count: int, channels: int, seed: int) -> pd.DataFrame:
    """Aggregated paths (the common format) from a random first-order journey model.

    Journeys start on a channel, move along a random transition matrix, stop with probability
    0.3 after each touch (at most 15 touches), and convert with a probability that grows with
    the channels they met; each path row stands for 1 to 12 journeys.
    """
    rng = np.random.default_rng(seed)
    moves = rng.dirichlet(np.full(channels, 0.5), size=channels)
    lift = rng.uniform(0.0, 0.08, channels)
    lengths = np.minimum(rng.geometric(0.3, count), 15)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    codes = np.empty(offsets[-1], dtype=np.int64)
    codes[offsets[:-1]] = rng.integers(0, channels, count)
    cumulative = np.cumsum(moves, axis=1)
    for step in range(1, int(lengths.max())):
        rows = offsets[:-1][lengths > step] + step
        draw = rng.random(len(rows))[:, None]
        codes[rows] = (draw > cumulative[codes[rows - 1]]).sum(axis=1).clip(0, channels - 1)
    names = pa.array([f"channel_{i:02d}" for i in range(channels)])
    labels = pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), names.take(codes))
    met = np.zeros(count)
    path = np.repeat(np.arange(count), lengths)
    np.add.at(met, path, lift[codes])
    journeys = rng.integers(1, 13, count)
    conversions = rng.binomial(journeys, np.clip(0.02 + met, 0.0, 0.9))
    return pd.DataFrame(
        {
            "path": pc.binary_join(labels, " > ").to_pandas(),
            "total_conversions": conversions.astype(float),
            "total_conversion_value": conversions * rng.lognormal(8.0, 0.5, count),
            "total_null": (journeys - conversions).astype(float),
        }
    )


def _channel_attribution(frame: pd.DataFrame) -> tuple[float, pd.Series]:
    """Time ChannelAttribution's simulated Markov model; return its conversion shares."""
    with contextlib.redirect_stdout(io.StringIO()):  # its banner would spoil the JSON output
        import ChannelAttribution  # an optional baseline, imported only when installed

        seconds, result = best_of(
            1,
            lambda: ChannelAttribution.markov_model(
                frame,
                "path",
                "total_conversions",
                var_value="total_conversion_value",
                var_null="total_null",
                order=1,
                verbose=0,
                flg_pro=False,
            ),
        )
    credited = result["result"] if isinstance(result, dict) else result
    shares = credited.set_index("channel_name")["total_conversions"]
    return seconds, shares / shares.sum()


def run(leads: int, seed: int, repeats: int, log: Callable[[str], None]) -> dict[str, Any]:
    """Time the exact Markov attribution (and the baseline when installed) on synthetic paths."""
    count = SMOKE_PATHS if leads < 100_000 else FULL_PATHS
    frame = synthetic_paths(count, CHANNELS, seed)
    log(f"markov attribution on {count:,} aggregated paths over {CHANNELS} channels")
    parse_s, paths = best_of(1, lambda: paths_from_frame(frame))
    attribute(paths, "markov")  # warm-up: first calls load SciPy's sparse modules
    markov_s, result = best_of(repeats, lambda: attribute(paths, "markov"))
    ours = result.channels.set_index("channel")["conversions"]
    ours = ours / ours.sum()
    out: dict[str, Any] = {
        "paths": count,
        "touches": len(paths.codes),
        "parse_s": parse_s,
        "markov_s": markov_s,
        "target_met": count < FULL_PATHS or markov_s <= TARGET_S,
    }
    if importlib.util.find_spec("ChannelAttribution") is None:
        log("ChannelAttribution is not installed: no baseline")
        return out | {"baseline": None}
    baseline_s, theirs = _channel_attribution(frame)
    return out | {
        "baseline": "ChannelAttribution.markov_model (simulation)",
        "baseline_s": baseline_s,
        "speedup_vs_baseline": baseline_s / markov_s,
        "max_share_difference": float((ours - theirs.reindex(ours.index)).abs().max()),
    }
