"""Initiative ROI: revenue credited to each initiative by an attribution model, against its spend.

The journeys are labelled by ``touches.initiative_id`` instead of the channel (touches without
an initiative are ``(none)``), attributed with the chosen model, and set against the spend
booked to each initiative (``spend.initiative_id``; ``(none)`` gets the spend booked to no
initiative). ROI = (attributed revenue - cost) ÷ cost, null without cost. Attributed revenue
is the attributed conversion value: won amounts at the chosen level.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ibis.expr.types as ir
import numpy as np
import pandas as pd

from missionline.data.schema import Table
from missionline.models.attribution.credit import attribute
from missionline.models.attribution.journeys import NONE_LABEL, workspace_paths
from missionline.plan.models import Plan

ROI_COLUMNS = ["initiative", "attributed_conversions", "attributed_revenue", "cost", "roi"]


def initiative_roi(
    tables: dict[str, ir.Table],
    schema: dict[str, Table],
    plan: Plan,
    model: str = "markov",
    level: str = "person",
    lookback_days: float | None = None,
    functions: Sequence[str] = (),
    **options: Any,
) -> pd.DataFrame:
    """Per initiative: conversions and revenue attributed, cost, and ROI.

    Rows: the plan's initiatives in plan order, then other initiatives met in touches or
    spend, then ``(none)``.
    """
    # Imported here: the workspace module imports this package for its methods.
    from missionline.workspace import spend_by_initiative

    paths = workspace_paths(tables, schema, plan, level, "initiative", lookback_days, functions)
    credit = attribute(paths, model, **options).channels.set_index("channel")
    spend = {NONE_LABEL if k is None else k: v for k, v in spend_by_initiative(tables).items()}
    planned = [i.id for i in plan.initiatives]
    others = sorted((set(credit.index) | set(spend)) - set(planned) - {NONE_LABEL})
    names = [*planned, *others, NONE_LABEL]
    frame = pd.DataFrame({"initiative": names})
    frame["attributed_conversions"] = credit["conversions"].reindex(names).fillna(0.0).to_numpy()
    frame["attributed_revenue"] = credit["value"].reindex(names).fillna(0.0).to_numpy()
    frame["cost"] = [float(spend.get(n, 0.0)) for n in names]
    cost = frame["cost"].to_numpy()
    gain = frame["attributed_revenue"].to_numpy() - cost
    frame["roi"] = np.where(cost > 0, gain / np.where(cost > 0, cost, 1.0), np.nan)
    return frame[ROI_COLUMNS]
