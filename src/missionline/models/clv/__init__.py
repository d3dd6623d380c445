"""Customer lifetime value models: BG/NBD, Pareto/NBD, Gamma-Gamma and shifted-beta-geometric.

Summaries are aggregated in the engine (:mod:`.summary`); the models are fitted by weighted
maximum likelihood in NumPy/SciPy on the unique (frequency, recency, T) rows (:mod:`.fitting`).
See docs/clv.md for the definitions and conventions.
"""

from missionline.models.clv.bgnbd import fit_bgnbd
from missionline.models.clv.fitting import FitResult
from missionline.models.clv.gamma_gamma import fit_gamma_gamma
from missionline.models.clv.pareto_nbd import fit_pareto_nbd
from missionline.models.clv.predict import holdout_comparison, predict
from missionline.models.clv.sbg import fit_sbg, fit_sbg_contracts, survival_curve
from missionline.models.clv.summary import (
    summarise_transactions,
    workspace_contracts,
    workspace_summary,
)

__all__ = [
    "FitResult",
    "fit_bgnbd",
    "fit_gamma_gamma",
    "fit_pareto_nbd",
    "fit_sbg",
    "fit_sbg_contracts",
    "holdout_comparison",
    "predict",
    "summarise_transactions",
    "survival_curve",
    "workspace_contracts",
    "workspace_summary",
]
