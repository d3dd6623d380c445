"""Index components from the revenue process: conformance, hand-offs, the feedback loop.

Each reads the process metrics (:mod:`missionline.metrics.conformance`, :mod:`.sla`,
:mod:`.leakage`) and turns them into a 0-100 score with the rows that cost points:

* ``conformance`` = 100 * conforming entries ÷ entries, over the stages with an entry rule;
* ``handoff`` = 100 * the mean of the share of hand-offs answered within their SLA and the
  share accepted (over the SLA stages that have a next stage);
* ``feedback_loop`` = 100 * the mean of the share of leaks (disqualified, lost, recycled) that
  carry a reason and the share of recycled records that re-entered the main path.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

import pandas as pd

from missionline.alignment.components import (
    Component,
    Context,
    Window,
    label,
    mean_score,
    plain,
    records,
    share,
    unmeasured,
)
from missionline.metrics.conformance import conformance
from missionline.metrics.leakage import UNSPECIFIED, leakage, reasons
from missionline.metrics.sla import sla, sla_specs

BREAKDOWNS = ("segment", "owner")  # the dimensions the drivers name, besides stages


def _grouped(frame: pd.DataFrame, dimension: str, columns: list[str]) -> pd.DataFrame:
    """Sum ``columns`` per value of ``dimension`` (missing values form one group)."""
    out = frame.groupby(frame[dimension].map(label), sort=True)[columns].sum()
    return out.reset_index().rename(columns={dimension: "id"})


def _conformance(ctx: Context, by: tuple[str, ...]) -> pd.DataFrame:
    return ctx.cached(
        ("conformance", by),
        lambda: conformance(ctx.tables, ctx.schema, ctx.plan, list(by), ctx.period),
    )


def _conformance_row(
    kind: str, r: Mapping[Hashable, Any], entries: int, rules: dict[str, str | None]
) -> dict[str, Any]:
    """One stage's, segment's or owner's non-conforming entries and the points they cost."""
    bad = int(r["entries"] - r["conforming"])
    if kind == "stage":
        rule = rules.get(r["id"])
        detail = f"{bad:,} of {int(r['entries']):,} entries broke the rule `{rule}`"
        advice = (
            f"Make the CRM check `{rule}` before a record can enter {r['id']}, or agree a rule "
            "that matches how the stage is really used."
        )
    else:
        detail = f"{bad:,} of {int(r['entries']):,} entries broke their stage's rule"
        advice = f"Review how {kind} {r['id']} moves records between stages against the rules."
    return {
        "kind": kind,
        "id": r["id"],
        "lost": 100.0 * bad / entries,
        "detail": detail,
        "advice": advice,
        "entries": int(r["entries"]),
        "conforming": int(r["conforming"]),
    }


def conformance_component(ctx: Context, window: Window) -> Component:
    """Share of stage entries that met the stage's entry rule (verification)."""
    cid = "conformance"
    if not any(s.entry_rule for s in ctx.plan.lifecycle.stages):
        return unmeasured(
            cid,
            ctx,
            "no stage has an entry_rule",
            "Write a verifiable entry_rule for each stage so the data can be checked against it.",
        )
    base = ctx.rows(_conformance(ctx, ()), window)
    entries, conforming = int(base["entries"].sum()), int(base["conforming"].sum())
    if entries == 0:
        return unmeasured(
            cid, ctx, "no entries into stages with an entry rule", "Import stage events."
        )
    rules = {s.id: s.entry_rule for s in ctx.plan.lifecycle.stages}
    frames = [("stage", base)]
    frames += [(d, ctx.rows(_conformance(ctx, (d,)), window)) for d in BREAKDOWNS]
    rows = [
        _conformance_row(kind, r, entries, rules)
        for kind, frame in frames
        for r in _grouped(frame, kind, ["entries", "conforming"]).to_dict(orient="records")
    ]
    score = 100.0 * conforming / entries
    worst = base.assign(bad=base["entries"] - base["conforming"]).sort_values("bad").iloc[-1]
    advice = (
        f"{entries - conforming:,} of {entries:,} stage entries broke their entry rule, most at "
        f"{worst['stage']}: enforce the rules where records change stage."
        if conforming < entries
        else ""
    )
    inputs = {"entries": entries, "conforming": conforming, "stages": len(base)}
    return Component(
        cid,
        score,
        ctx.weight(cid),
        True,
        inputs,
        records(rows, ["entries", "conforming"]),
        advice,
    )


def _sla(ctx: Context, by: tuple[str, ...]) -> pd.DataFrame:
    return ctx.cached(
        ("sla", by), lambda: sla(ctx.tables, ctx.schema, ctx.plan, list(by), ctx.period)
    )


def _handoff_counts(frame: pd.DataFrame, stages_with_acceptance: set[str]) -> pd.DataFrame:
    """Per row: hand-offs, late ones, and the hand-offs and acceptances that judge acceptance."""
    judged = frame["stage"].isin(stages_with_acceptance)
    return pd.DataFrame(
        {
            "handed_over": frame["handed_over"],
            "late": frame["handed_over"] - frame["within_sla"],
            "judged": frame["handed_over"].where(judged, 0),
            "not_accepted": (frame["handed_over"] - frame["accepted"]).where(judged, 0),
        }
    )


def handoff_component(ctx: Context, window: Window) -> Component:
    """Hand-offs answered within their SLA, and hand-offs accepted by the receiving function."""
    cid = "handoff"
    if not any(s.sla for s in ctx.plan.lifecycle.stages):
        return unmeasured(
            cid, ctx, "no stage has an sla", "Agree an sla for each hand-off between functions."
        )
    base = ctx.rows(_sla(ctx, ()), window)
    accepting = {spec.stage for spec in sla_specs(ctx.plan) if spec.accept}
    counts = _handoff_counts(base, accepting)
    handed, judged = int(counts["handed_over"].sum()), int(counts["judged"].sum())
    if handed == 0:
        return unmeasured(cid, ctx, "no hand-offs", "Import stage events and sales touches.")
    within = handed - int(counts["late"].sum())
    accepted = judged - int(counts["not_accepted"].sum())
    parts = [share(within, handed), share(accepted, judged)]
    k = sum(p is not None for p in parts)

    def lost(c: pd.DataFrame) -> pd.Series:
        out = c["late"] / handed
        if judged:
            out = out + c["not_accepted"] / judged
        return 100.0 * out / k

    rows = []
    frames = [("stage", base)] + [(d, ctx.rows(_sla(ctx, (d,)), window)) for d in BREAKDOWNS]
    for kind, frame in frames:
        counted = _handoff_counts(frame, accepting).assign(id=frame[kind].map(label))
        summed = counted.groupby("id").sum().reset_index()
        summed = summed.assign(lost=lost(summed))
        for r in summed.to_dict(orient="records"):
            rows.append(
                {
                    "kind": kind,
                    "id": r["id"],
                    "lost": r["lost"],
                    "detail": f"{int(r['late']):,} of {int(r['handed_over']):,} hand-offs late, "
                    f"{int(r['not_accepted']):,} of {int(r['judged']):,} not accepted",
                    "advice": f"Go through {kind} {r['id']}'s late and rejected hand-offs with "
                    "both functions: capacity, routing, or a lead definition sales rejects.",
                    "handed_over": int(r["handed_over"]),
                    "late": int(r["late"]),
                    "not_accepted": int(r["not_accepted"]),
                }
            )
    inputs = {
        "handed_over": handed,
        "within_sla": within,
        "share_within_sla": plain(parts[0]),
        "judged_for_acceptance": judged,
        "accepted": accepted,
        "acceptance_rate": plain(parts[1]),
    }
    advice = (
        f"{handed - within:,} of {handed:,} hand-offs missed their SLA and "
        f"{judged - accepted:,} of {judged:,} were not accepted: staff the receiving stage for "
        "the volume marketing plans, and agree the lead definition with the people who reject it."
    )
    return Component(
        cid,
        mean_score(parts),
        ctx.weight(cid),
        True,
        inputs,
        records(rows, ["handed_over", "late", "not_accepted"]),
        advice,
    )


def feedback_component(ctx: Context, window: Window) -> Component:
    """Leaks (rejections, losses, recycles) that carry a reason; recycled records worked again."""
    cid = "feedback_loop"
    why = ctx.rows(
        ctx.cached("reasons", lambda: reasons(ctx.tables, ctx.schema, ctx.plan, period=ctx.period)),
        window,
    )
    flow = ctx.rows(
        ctx.cached("leakage", lambda: leakage(ctx.tables, ctx.schema, ctx.plan, period=ctx.period)),
        window,
    )
    why = why.assign(unspecified=why["records"].where(why["reason"] == UNSPECIFIED, 0))
    per_stage = why.groupby("stage")[["records", "unspecified"]].sum()
    loops = flow.groupby("stage")[["recycled", "reentered"]].sum()
    stages = per_stage.join(loops, how="outer").fillna(0)
    leaks, recycled = int(stages["records"].sum()), int(stages["recycled"].sum())
    if leaks == 0 and recycled == 0:
        return unmeasured(
            cid,
            ctx,
            "no disqualified, lost or recycled records",
            "Import the exit stage events (disqualified, lost, recycled) with their reasons.",
        )
    unspecified, reentered = int(stages["unspecified"].sum()), int(stages["reentered"].sum())
    parts = [share(leaks - unspecified, leaks), share(reentered, recycled)]
    k = sum(p is not None for p in parts)
    rows = []
    for r in stages.rename_axis("stage").reset_index().to_dict(orient="records"):
        stage = r["stage"]
        points = (r["unspecified"] / leaks if leaks else 0.0) + (
            (r["recycled"] - r["reentered"]) / recycled if recycled else 0.0
        )
        rows.append(
            {
                "kind": "stage",
                "id": stage,
                "lost": 100.0 * points / k,
                "detail": f"{int(r['unspecified']):,} of {int(r['records']):,} leaks without a "
                f"reason; {int(r['reentered']):,} of {int(r['recycled']):,} recycled came back",
                "advice": f"Require a reason when a record leaves {stage}, and give recycled "
                "records a nurture track that brings them back.",
                "leaks": int(r["records"]),
                "unspecified": int(r["unspecified"]),
                "recycled": int(r["recycled"]),
                "reentered": int(r["reentered"]),
            }
        )
    inputs = {
        "leaks": leaks,
        "with_reason": leaks - unspecified,
        "reason_share": plain(parts[0]),
        "recycled": recycled,
        "reentered": reentered,
        "reentry_rate": plain(parts[1]),
    }
    advice = (
        f"{unspecified:,} of {leaks:,} leaks carry no reason and {recycled - reentered:,} of "
        f"{recycled:,} recycled records never came back: make the reason mandatory and give "
        "recycled records a nurture programme with an owner."
    )
    return Component(
        cid,
        mean_score(parts),
        ctx.weight(cid),
        True,
        inputs,
        records(rows, ["leaks", "unspecified", "recycled", "reentered"]),
        advice,
    )
