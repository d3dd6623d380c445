"""Index components from the plan: definition, mission linkage, target coherence.

* ``definition`` = 100 * the share of the plan's definition checklist that is met: each
  main-path stage has a definition, an owner and an entry rule; each hand-off between two
  functions (a main-path stage whose next main-path stage has another owner) has an SLA
  measured from it; each function has an objective; each success factor is supported by an
  objective; the plan has a glossary.
* ``mission_linkage`` = 100 * the mean of the share of initiatives that reach a success factor
  (through the objectives they support) and the share of spend booked to such initiatives
  (spend in the window; see :mod:`missionline.alignment.linkage`).
* ``target_coherence`` = 100 * (1 - the mean over objectives of the largest relative gap,
  capped at 1, between the objective's target and what the cascade from the success factors
  requires; see :mod:`missionline.planning.coherence`).
"""

from __future__ import annotations

import itertools
from typing import Any

import ibis

from missionline.alignment.components import (
    Component,
    Context,
    Window,
    mean_score,
    plain,
    records,
    share,
    unmeasured,
)
from missionline.alignment.linkage import linkage
from missionline.plan.models import Plan

NO_INITIATIVE = "(no initiative)"


def definition_checklist(plan: Plan) -> list[dict[str, Any]]:
    """Every item of the definition checklist: kind, id, requirement, met, and what to do."""
    items: list[dict[str, Any]] = []

    def item(kind: str, key: str, requirement: str, met: bool, advice: str) -> None:
        items.append(
            {"kind": kind, "id": key, "requirement": requirement, "met": met, "advice": advice}
        )

    path = plan.lifecycle.path()
    for stage in path:
        for key in ("definition", "owner", "entry_rule"):
            item(
                "stage",
                stage.id,
                key,
                bool(getattr(stage, key)),
                f"Write the {key.replace('_', ' ')} of stage {stage.id} in the plan.",
            )
    measured_from = {s.sla.measured_from or s.id for s in plan.lifecycle.stages if s.sla}
    for stage, following in itertools.pairwise(path):
        if stage.owner and following.owner and stage.owner != following.owner:
            item(
                "stage",
                stage.id,
                "sla",
                stage.id in measured_from,
                f"Agree an sla for the hand-off from {stage.id} ({stage.owner}) to "
                f"{following.id} ({following.owner}).",
            )
    for function in plan.functions:
        item(
            "function",
            function.id,
            "objective",
            any(o.function == function.id for o in plan.objectives),
            f"Give {function.id} an objective with a metric and a target.",
        )
    supported = {f for o in plan.objectives for f in o.supports}
    for factor in plan.success_factors:
        item(
            "success_factor",
            factor.id,
            "objective",
            factor.id in supported,
            f"Give some function an objective that supports {factor.id}.",
        )
    item("plan", "plan", "glossary", bool(plan.glossary), "Write a glossary of shared terms.")
    return items


def definition_component(ctx: Context, window: Window) -> Component:
    """Share of the definition checklist met by the plan (the same in every period)."""
    cid = "definition"
    items = definition_checklist(ctx.plan)
    met = sum(i["met"] for i in items)
    rows = [
        {
            **i,
            "lost": 0.0 if i["met"] else 100.0 / len(items),
            "detail": f"{i['requirement']} " + ("written" if i["met"] else "missing"),
        }
        for i in items
    ]
    missing = [f"{i['id']} {i['requirement']}" for i in items if not i["met"]]
    advice = (
        f"Complete the plan's definitions ({len(missing)} missing: {', '.join(missing[:3])}"
        f"{', ...' if len(missing) > 3 else ''})."
        if missing
        else ""
    )
    inputs = {"items": len(items), "met": met, "missing": missing}
    return Component(
        cid,
        100.0 * met / len(items),
        ctx.weight(cid),
        True,
        inputs,
        records(rows, ["requirement", "met"]),
        advice,
    )


def _spend(ctx: Context, window: Window) -> dict[str | None, float]:
    """Spend per initiative id (None: not booked to one) in the window, by period_start."""
    # The workspace module imports the alignment package, so its helper is imported here.
    from missionline.workspace import spend_by_initiative

    spend = ctx.tables["spend"]
    if window.start is not None and window.end is not None:
        start, end = ibis.timestamp(str(window.start)), ibis.timestamp(str(window.end))
        spend = spend.filter((spend.period_start >= start) & (spend.period_start < end))
    return dict(spend_by_initiative({"spend": spend}))


def linkage_component(ctx: Context, window: Window) -> Component:
    """Initiatives, and spend, with a line to a success factor."""
    cid = "mission_linkage"
    spend = _spend(ctx, window)
    plan = ctx.plan
    result = linkage(plan, spend)
    if not plan.initiatives and result.total_spend == 0:
        return unmeasured(
            cid,
            ctx,
            "no initiatives in the plan and no spend",
            "List the initiatives in the plan with the objectives they support, and import spend.",
        )
    orphans = set(result.orphan_initiatives)
    n = len(plan.initiatives)
    parts = [
        share(n - len(orphans), n),
        None if result.total_spend == 0 else 1 - (result.unlinked_spend_share or 0.0),
    ]
    measured_parts = sum(p is not None for p in parts)
    declared = {i.id for i in plan.initiatives}
    rows = []
    for key in [*sorted(declared | {i for i in spend if i is not None}), None]:
        amount = float(spend.get(key, 0.0))
        unlinked = key is None or key in orphans or key not in declared
        if key is None and amount == 0:
            continue
        points = 0.0
        if unlinked and result.total_spend:
            points += amount / result.total_spend
        if key in orphans:
            points += 1 / n
        reason = (
            "spend booked to no initiative"
            if key is None
            else "not declared in the plan"
            if key not in declared
            else "supports no objective that serves a success factor"
            if key in orphans
            else "linked to a success factor"
        )
        rows.append(
            {
                "kind": "initiative",
                "id": key or NO_INITIATIVE,
                "lost": 100.0 * points / measured_parts,
                "detail": f"{reason}; spend {amount:,.0f}",
                "advice": "Book this spend to the initiative it pays for."
                if key is None
                else f"Link {key} to an objective that serves a success factor, or stop it.",
                "linked": not unlinked,
                "spend": amount,
            }
        )
    inputs = {
        "initiatives": n,
        "linked_initiatives": n - len(orphans),
        "total_spend": result.total_spend,
        "unlinked_spend": result.unlinked_spend,
        "linked_spend_share": plain(parts[1]),
    }
    advice = (
        f"{len(orphans)} of {n} initiatives and {result.unlinked_spend:,.0f} of "
        f"{result.total_spend:,.0f} spend have no line to a success factor: link them through "
        "an objective, or stop them."
        if orphans or result.unlinked_spend > 0
        else ""
    )
    return Component(
        cid,
        mean_score(parts),
        ctx.weight(cid),
        True,
        inputs,
        records(rows, ["linked", "spend"]),
        advice,
    )


def coherence_component(ctx: Context, window: Window) -> Component:
    """Objectives' targets consistent with the cascade from the success factors."""
    # Imported when scored so that the index module imports without the cascade (issue #6);
    # with the cascade in place this can move to the top of the module.
    from missionline.planning.coherence import target_coherence

    cid = "target_coherence"
    plan = ctx.plan
    if not plan.objectives:
        return unmeasured(
            cid, ctx, "no objectives in the plan", "Give each function objectives with targets."
        )
    findings = ctx.cached("coherence", lambda: list(target_coherence(ctx.tables, ctx.schema, plan)))
    ids = {o.id for o in plan.objectives}
    worst: dict[str, float] = {}
    for finding in findings:
        if finding.objective in ids:  # findings about other objects have no objective to score
            gap = min(1.0, abs(float(finding.gap_share)))
            worst[finding.objective] = max(worst.get(finding.objective, 0.0), gap)
    n = len(plan.objectives)
    rows = [
        {
            "kind": "objective",
            "id": o.id,
            "lost": 100.0 * worst.get(o.id, 0.0) / n,
            "detail": f"target {o.target:g} is {worst[o.id]:.0%} away from what the cascade "
            "requires"
            if o.id in worst
            else "consistent with the cascade",
            "advice": f"Re-derive {o.id}'s target from the cascade (missionline cascade check)."
            if o.id in worst
            else "",
            "gap": worst.get(o.id, 0.0),
        }
        for o in plan.objectives
    ]
    score = 100.0 * (1 - sum(worst.values()) / n)
    inputs = {"objectives": n, "findings": len(findings), "inconsistent_objectives": len(worst)}
    advice = (
        f"{len(worst)} of {n} objectives have targets the cascade does not support: derive "
        "them top-down from the success factors."
        if worst
        else ""
    )
    return Component(cid, score, ctx.weight(cid), True, inputs, records(rows, ["gap"]), advice)
