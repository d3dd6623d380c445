"""Index components from results and people: shared outcomes, perception.

* ``shared_outcomes`` = 100 * (1 - the mean, over each objective and each success factor it
  supports, of |objective attainment - factor attainment| capped at 1). Marketing at 120% of
  its MQL target while bookings are at 70% costs that pair 50 points: a function succeeding
  alone is misalignment, not success. Spend objectives (budgets) are left out. Without a
  period, attainments are those of :mod:`missionline.alignment.attainment` (each target's
  last full period); in a trend, each target is judged over the trend's period, additive
  targets scaled to its length (a quarterly target over a month is a third), ratios as they are.
* ``perception`` = 100 * the mean of the questionnaire *level*, (mean statement score - 1) ÷ 4,
  and the *agreement*, 1 - min(1, mean |per-statement gap| ÷ 2), the gap between the compared
  functions (:mod:`missionline.alignment.survey`). In a trend, each respondent's latest
  answers given before the period's end count.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd

from missionline.alignment.attainment import attainments, status_of
from missionline.alignment.components import (
    Component,
    Context,
    Window,
    mean_score,
    plain,
    records,
    unmeasured,
)
from missionline.alignment.survey import by_statement, compared, gap, survey_answers
from missionline.metrics.library import metric_value
from missionline.plan.models import Objective, Plan, SuccessFactor
from missionline.plan.rules_alignment import metric_unit

PERIOD_DAYS = {"month": 365.25 / 12, "quarter": 365.25 / 4, "year": 365.25}
GAP_SCALE = 2.0  # a mean gap of two points on the 1-5 scale means no agreement at all
SCALE_RANGE = 4.0  # from 1 to 5


def _target_days(plan: Plan, period: str) -> float:
    """The length in days of a target's period (the plan horizon for ``horizon``)."""
    if period == "horizon" and plan.mission is not None:
        return float((plan.mission.horizon.end - plan.mission.horizon.start).days + 1)
    return PERIOD_DAYS[period]


def _window_attainment(
    ctx: Context, item: SuccessFactor | Objective, start: dt.date, end: dt.date
) -> float | None:
    """Actual over [start, end) ÷ the target scaled to that length (ratios are not scaled)."""
    metric = ctx.plan.metrics.get(item.metric)
    if metric is None or (item.period == "horizon" and ctx.plan.mission is None):
        return None
    actual = metric_value(ctx.tables, ctx.plan, item.metric, start, end)
    target = item.target
    if metric_unit(metric) != "ratio":
        target *= (end - start).days / _target_days(ctx.plan, item.period)
    return status_of(actual, target, metric.measure)[0]


def _attainment_by_id(ctx: Context, window: Window) -> dict[tuple[str, str], float | None]:
    """Attainment per (kind, id) of every success factor and objective for the window."""
    if window.start is None or window.end is None:
        found = ctx.cached("attainments", lambda: attainments(ctx.tables, ctx.plan))
        return {(a.kind, a.id): a.attainment for a in found}
    items: list[tuple[str, SuccessFactor | Objective]] = [
        *(("success_factor", f) for f in ctx.plan.success_factors),
        *(("objective", o) for o in ctx.plan.objectives),
    ]
    start, end = window.start, window.end
    return {(k, i.id): _window_attainment(ctx, i, start, end) for k, i in items}


def _pair_advice(objective: Objective, factor: str, mine: float, theirs: float) -> str:
    if mine > theirs:
        return (
            f"{objective.function} is at {mine:.0%} of {objective.id} while {factor} is at "
            f"{theirs:.0%}: re-base {objective.id} on what {factor} needs, not on volume."
        )
    return (
        f"{objective.id} ({mine:.0%}) lags {factor} ({theirs:.0%}): check that it still "
        f"measures what drives {factor}, or help {objective.function} close the gap."
    )


def shared_outcomes_component(ctx: Context, window: Window) -> Component:
    """Functions' attainment compared with the attainment of the outcomes they serve."""
    cid = "shared_outcomes"
    plan = ctx.plan
    reached = _attainment_by_id(ctx, window)
    pairs = []
    for objective in plan.objectives:
        metric = plan.metrics.get(objective.metric)
        mine = reached.get(("objective", objective.id))
        if metric is None or metric.measure == "spend" or mine is None:
            continue
        for factor in objective.supports:
            theirs = reached.get(("success_factor", factor))
            if theirs is not None:
                pairs.append((objective, factor, mine, theirs, min(1.0, abs(mine - theirs))))
    if not pairs:
        return unmeasured(
            cid,
            ctx,
            "no objective and success factor it supports both have an actual",
            "Give objectives and success factors plan metrics, and import the data they read.",
        )
    rows = [
        {
            "kind": "objective",
            "id": o.id,
            "lost": 100.0 * d / len(pairs),
            "detail": f"{o.function} at {mine:.0%} of {o.id}; {factor} at {theirs:.0%}",
            "advice": _pair_advice(o, factor, mine, theirs),
            "function": o.function,
            "success_factor": factor,
            "objective_attainment": mine,
            "factor_attainment": theirs,
        }
        for o, factor, mine, theirs, d in pairs
    ]
    divergence = sum(p[4] for p in pairs) / len(pairs)
    inputs = {"pairs": len(pairs), "mean_divergence": divergence}
    worst = max(pairs, key=lambda p: p[4])
    advice = _pair_advice(worst[0], worst[1], worst[2], worst[3]) if worst[4] > 0 else ""
    extra = ["function", "success_factor", "objective_attainment", "factor_attainment"]
    return Component(
        cid,
        100.0 * (1 - divergence),
        ctx.weight(cid),
        True,
        inputs,
        records(rows, extra),
        advice,
    )


def perception_component(ctx: Context, window: Window) -> Component:
    """The questionnaire's level, and how far the compared functions' answers agree."""
    cid = "perception"
    plan = ctx.plan
    answers = ctx.cached(
        ("survey", window.end), lambda: survey_answers(ctx.tables, plan, end=window.end)
    )
    statements = by_statement(answers, plan).dropna(subset=["mean"])
    if statements.empty:
        return unmeasured(
            cid,
            ctx,
            "no questionnaire answers from a group of 3 or more respondents",
            "Send the questionnaire (missionline survey instrument) to both functions and "
            "import the answers.",
        )
    levels = (statements["mean"] - 1) / SCALE_RANGE
    gaps = statements["gap"].abs()
    level = float(levels.mean())
    has_gap = gaps.notna()
    agreement = 1 - min(1.0, float(gaps[has_gap].mean()) / GAP_SCALE) if has_gap.any() else None
    k = 1 if agreement is None else 2
    lost = (1 - levels) / len(levels)
    if agreement is not None:
        lost = lost + (gaps.fillna(0) / GAP_SCALE / int(has_gap.sum()))
    a, b = compared(plan)
    rows = [
        {
            "kind": "statement",
            "id": r["statement"],
            "lost": 100.0 * points / k,
            "detail": f"mean {r['mean']:.2f}"
            + ("" if pd.isna(r["gap"]) else f"; {a} - {b} {r['gap']:+.2f}"),
            "advice": f"Discuss {r['statement']} ({r['pillar']}) with both functions: what does "
            "each see that the other does not?",
            "pillar": r["pillar"],
            "mean": r["mean"],
            "gap": r["gap"],
        }
        for r, points in zip(statements.to_dict(orient="records"), lost, strict=True)
    ]
    overall = gap(answers, plan)
    inputs: dict[str, Any] = {
        "respondents": int(answers.loc[answers["counts"], "respondent"].nunique()),
        "statements": len(statements),
        "level": level,
        "agreement": agreement,
        "mean_abs_gap": plain(gaps[has_gap].mean()) if has_gap.any() else None,
        "gap": overall["gap"],
        "gap_ci_low": overall["ci_low"],
        "gap_ci_high": overall["ci_high"],
    }
    worst = statements.assign(abs_gap=gaps).sort_values("abs_gap", na_position="first").iloc[-1]
    advice = (
        f"{a} and {b} answer {worst['statement']} ({worst['pillar']}) {worst['gap']:+.2f} points "
        "apart: work through the statements with the largest gaps together."
        if agreement is not None
        else f"Only one of {a} and {b} has 3 or more respondents: ask both to answer."
    )
    return Component(
        cid,
        mean_score([level, agreement]),
        ctx.weight(cid),
        True,
        inputs,
        records(rows, ["pillar", "mean", "gap"]),
        advice,
    )
