"""Attribution: rule-based and data-driven (Markov, Shapley) credit of conversions to channels."""

from missionline.models.attribution.credit import (
    MODELS,
    Attribution,
    attribute,
    compare_models,
)
from missionline.models.attribution.journeys import LEVELS, workspace_paths
from missionline.models.attribution.paths import Paths, read_paths_csv
from missionline.models.attribution.roi import initiative_roi

__all__ = [
    "LEVELS",
    "MODELS",
    "Attribution",
    "Paths",
    "attribute",
    "compare_models",
    "initiative_roi",
    "read_paths_csv",
    "workspace_paths",
]
