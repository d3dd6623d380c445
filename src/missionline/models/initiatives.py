"""The initiative register: each plan initiative with its purpose, money, status and evidence.

Everything is reused, nothing recomputed: spend from
:func:`missionline.workspace.spend_by_initiative`, verdicts from
:func:`~missionline.models.experiments.analyze_experiment`, attributed conversions, revenue and
ROI from :func:`~missionline.models.attribution.initiative_roi` (people's journeys).

Definitions (the choices the issue leaves open; also in docs/initiatives.md):

* ``success_factors``: the success factors the initiative's objectives support, in the order met.
* ``budget_used`` = spend ÷ budget (null without a positive budget); ``over_budget`` when
  spend > budget.
* ``status`` relative to ``as_of`` (default: the latest stage entry), by calendar day:
  ``planned`` before ``start``, ``ended`` after ``end``, else ``active`` (a missing start or
  end is open-ended); null when there is no as-of (no stage events).
* ``attributed_pipeline``: the pipeline created (the amounts of every opportunity, open, won
  and lost) shared out by the initiative's share of the conversions the same model credits
  over opportunity journeys (closed deals, their person's and account's touches).
* ``as_of`` also dates the experiments' verdicts; spend and attribution use all the data.
"""

from __future__ import annotations

import datetime as dt

import ibis.expr.types as ir
import numpy as np
import pandas as pd

from missionline.data.schema import Table
from missionline.metrics.stays import AsOf, resolve_as_of
from missionline.models.attribution.credit import attribute
from missionline.models.attribution.journeys import workspace_paths
from missionline.models.attribution.roi import initiative_roi
from missionline.models.experiments import analyze_experiment
from missionline.plan.models import Initiative, Plan

REGISTER_COLUMNS = [
    "initiative",
    "name",
    "function",
    "objectives",
    "success_factors",
    "hypothesis",
    "owner",
    "budget",
    "spend",
    "budget_used",
    "over_budget",
    "status",
    "experiments",
    "verdicts",
    "attributed_conversions",
    "attributed_pipeline",
    "attributed_revenue",
    "roi",
]
LIST_COLUMNS = ("objectives", "success_factors", "experiments", "verdicts")


def initiative_status(initiative: Initiative, as_of: dt.date | None) -> str | None:
    """Planned, active or ended on ``as_of`` (None when there is no as-of)."""
    if as_of is None:
        return None
    if initiative.start is not None and as_of < initiative.start:
        return "planned"
    if initiative.end is not None and as_of > initiative.end:
        return "ended"
    return "active"


def _success_factors(plan: Plan, objectives: list[str]) -> list[str]:
    """The success factors the objectives support, without repeats, in the order met."""
    supports = {o.id: o.supports for o in plan.objectives}
    return list(dict.fromkeys(f for o in objectives for f in supports.get(o, [])))


def pipeline_credit(
    tables: dict[str, ir.Table], schema: dict[str, Table], plan: Plan, model: str
) -> dict[str, float]:
    """Pipeline created, shared by each initiative's credit share over opportunity journeys."""
    opportunities = tables["opportunities"]
    created = opportunities.amount.sum().execute()
    total = 0.0 if created is None or pd.isna(created) else float(created)
    paths = workspace_paths(tables, schema, plan, "opportunity", "initiative")
    credit = attribute(paths, model).channels
    conversions = credit["conversions"].to_numpy(dtype=np.float64)
    converted = float(conversions.sum())
    share = conversions / converted if converted > 0 else np.zeros_like(conversions)
    return dict(zip(credit["channel"], (share * total).tolist(), strict=True))


def initiative_register(
    tables: dict[str, ir.Table],
    schema: dict[str, Table],
    plan: Plan,
    model: str = "markov",
    as_of: AsOf = None,
) -> pd.DataFrame:
    """One row per plan initiative, in plan order: purpose, money, status, verdicts, credit."""
    moment = resolve_as_of(tables, as_of)
    credit = initiative_roi(tables, schema, plan, model).set_index("initiative").to_dict("index")
    pipeline = pipeline_credit(tables, schema, plan, model)
    rows = []
    for initiative in plan.initiatives:
        tests = [e.id for e in plan.experiments if e.initiative == initiative.id]
        roi = credit[initiative.id]
        spend = float(roi["cost"])
        budget = initiative.budget
        rows.append(
            {
                "initiative": initiative.id,
                "name": initiative.name,
                "function": initiative.function,
                "objectives": list(initiative.supports),
                "success_factors": _success_factors(plan, initiative.supports),
                "hypothesis": initiative.hypothesis,
                "owner": initiative.owner,
                "budget": budget,
                "spend": spend,
                "budget_used": spend / budget if budget else None,
                "over_budget": budget is not None and spend > budget,
                "status": initiative_status(initiative, moment.date() if moment else None),
                "experiments": tests,
                "verdicts": [
                    analyze_experiment(tables, schema, plan, e, moment).verdict for e in tests
                ],
                "attributed_conversions": float(roi["attributed_conversions"]),
                "attributed_pipeline": pipeline.get(initiative.id, 0.0),
                "attributed_revenue": float(roi["attributed_revenue"]),
                "roi": roi["roi"],
            }
        )
    frame = pd.DataFrame(rows, columns=REGISTER_COLUMNS)
    frame["budget"] = frame["budget"].astype("float64")
    frame["budget_used"] = frame["budget_used"].astype("float64")
    frame["roi"] = frame["roi"].astype("float64")
    return frame


def joined_lists(frame: pd.DataFrame) -> pd.DataFrame:
    """The register with its list cells joined by commas, for a table, CSV or report."""
    flat = frame.copy()
    for column in LIST_COLUMNS:
        flat[column] = [", ".join(cell) for cell in flat[column]]
    return flat
