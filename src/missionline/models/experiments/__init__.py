"""Experiments: frequentist, Bayesian and sequential analysis, CUPED, power and sample ratio.

The engine aggregates each variant's outcome into a few sums (:mod:`.outcomes`); the
statistics run on those sums in small pure functions (:mod:`.stats`, :mod:`.bayes`,
:mod:`.sequential`, :mod:`.cuped`, :mod:`.power`), and :mod:`.analysis` puts them together.
"""

from missionline.models.experiments.analysis import (
    Design,
    analyze,
    analyze_counts,
    analyze_experiment,
)
from missionline.models.experiments.counts import read_counts, stats_from_counts
from missionline.models.experiments.outcomes import traffic_per_day, variant_sums
from missionline.models.experiments.power import duration_days, sample_size, sample_size_for_effect
from missionline.models.experiments.result import ExperimentResult, VariantResult
from missionline.models.experiments.stats import VariantStats

__all__ = [
    "Design",
    "ExperimentResult",
    "VariantResult",
    "VariantStats",
    "analyze",
    "analyze_counts",
    "analyze_experiment",
    "duration_days",
    "read_counts",
    "sample_size",
    "sample_size_for_effect",
    "stats_from_counts",
    "traffic_per_day",
    "variant_sums",
]
