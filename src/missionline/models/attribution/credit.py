"""One entry point for every attribution model, and the models side by side.

:func:`attribute` runs one model on :class:`~missionline.models.attribution.paths.Paths` and
returns an :class:`Attribution`: the conversions and conversion value credited to each channel
(they sum to the paths' totals, except that Shapley credit on the conversion-rate game is an
estimate when sampled), and for ``markov`` the removal effects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from missionline.cli.output import records
from missionline.errors import MissionlineError
from missionline.models.attribution.markov import markov_credit
from missionline.models.attribution.paths import FloatArray, Paths
from missionline.models.attribution.rules import (
    DEFAULT_HALF_LIFE_DAYS,
    MILESTONE_MODELS,
    RULE_MODELS,
    rule_credit,
)
from missionline.models.attribution.shapley import (
    DEFAULT_SAMPLES,
    MAX_EXACT_CHANNELS,
    shapley_credit,
)

MODELS = (*RULE_MODELS, "markov", "shapley")
CHANNEL_COLUMNS = ["channel", "conversions", "value"]


@dataclass(frozen=True)
class Attribution:
    """A model's credit per channel (``channels``: channel, conversions, value).

    ``removal_effects`` (channel -> removal effect) is set for ``markov`` only;
    ``standard_errors`` (channel -> standard error of the conversions credited) only for
    sampled Shapley values.
    """

    model: str
    channels: pd.DataFrame
    removal_effects: dict[str, float] | None = None
    standard_errors: dict[str, float] | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON contract: ``{"model", "channels": [...], "removal_effects": {...}}``."""
        out: dict[str, Any] = {
            "model": self.model,
            "channels": records(self.channels),
            "removal_effects": self.removal_effects,
        }
        if self.standard_errors is not None:
            out["standard_errors"] = self.standard_errors
        return out


def _labelled(paths: Paths, values: FloatArray) -> dict[str, float]:
    """Label a per-channel array with the channel names."""
    return {c: float(v) for c, v in zip(paths.channels, values, strict=True)}


def attribute(
    paths: Paths,
    model: str,
    order: int = 1,
    half_life_days: float = DEFAULT_HALF_LIFE_DAYS,
    value_function: str = "conversions",
    samples: int = DEFAULT_SAMPLES,
    seed: int = 0,
    max_exact_channels: int = MAX_EXACT_CHANNELS,
) -> Attribution:
    """Credit the paths' conversions and value to channels under one model.

    ``order`` is the Markov order (1 to 4); ``half_life_days`` the time-decay half-life;
    ``value_function``, ``samples``, ``seed`` and ``max_exact_channels`` configure Shapley.
    """
    effects = errors = None
    if model in RULE_MODELS:
        conversions, value = rule_credit(paths, model, half_life_days)
    elif model == "markov":
        conversions, value, removal, _ = markov_credit(paths, order)
        effects = _labelled(paths, removal)
    elif model == "shapley":
        result = shapley_credit(paths, value_function, samples, seed, max_exact_channels)
        conversions, value = result.conversions, result.value
        if result.standard_errors is not None:
            errors = _labelled(paths, result.standard_errors)
    else:
        raise MissionlineError(
            f"unknown attribution model {model!r}; use one of {', '.join(MODELS)}"
        )
    frame = pd.DataFrame(
        {"channel": list(paths.channels), "conversions": conversions, "value": value},
        columns=CHANNEL_COLUMNS,
    )
    return Attribution(model, frame, effects, errors)


def applicable_models(paths: Paths) -> list[str]:
    """The models these paths support (a paths file has no touch times and no milestones)."""
    return [
        m
        for m in MODELS
        if not (m in MILESTONE_MODELS and paths.lead_touch is None)
        and not (m == "time_decay" and paths.days is None)
    ]


def all_models(paths: Paths, **options: Any) -> list[Attribution]:
    """Every model the paths support, each with its full result."""
    return [attribute(paths, model, **options) for model in applicable_models(paths)]


def side_by_side(results: list[Attribution]) -> pd.DataFrame:
    """Conversions credited to each channel, one column per model."""
    frame = results[0].channels[["channel"]].copy()
    for result in results:
        frame[result.model] = result.channels["conversions"].to_numpy()
    return frame


def compare_models(paths: Paths, **options: Any) -> pd.DataFrame:
    """Conversions credited to each channel, one column per model the paths support."""
    return side_by_side(all_models(paths, **options))
