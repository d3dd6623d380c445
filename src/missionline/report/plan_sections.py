"""Report sections about the plan: targets and the mission map, verification, linkage."""

from __future__ import annotations

from dataclasses import asdict

import pandas as pd

from missionline.alignment.mission_map import build_mission_map, format_value
from missionline.cli.output import records
from missionline.report.section import Section
from missionline.workspace import Workspace

STATUS_WORDS = {
    "on_track": "on track",
    "at_risk": "at risk",
    "off_track": "off track",
    "no_data": "no data",
}


def mission_section(ws: Workspace) -> Section | None:
    """Success factors and objectives against target, and the mission map."""
    if not (ws.plan.success_factors or ws.plan.objectives):
        return None
    from missionline.report.mission_map import svg_fragment

    results = ws.attainments()
    frame = pd.DataFrame(
        [
            {
                "target": r.id,
                "kind": r.kind.replace("_", " "),
                "function": r.function or "company",
                "metric": r.metric,
                "period": f"{r.period_start} to {r.period_end}",
                "goal": format_value(r.target, r.unit),
                "actual": format_value(r.actual, r.unit),
                "attainment": r.attainment,
                "status": STATUS_WORDS[r.status],
            }
            for r in results
        ]
    )
    off = [r.id for r in results if r.status == "off_track"]
    risk = [r.id for r in results if r.status == "at_risk"]
    reading = (
        f"{len(results) - len(off) - len(risk)} of {len(results)} targets are on track in "
        "their last full period."
    )
    if off:
        reading += f" Off track: {', '.join(off)}."
    if risk:
        reading += f" At risk: {', '.join(risk)}."
    charts = [svg_fragment(build_mission_map(ws.plan, results))]
    return Section(
        "mission", "Mission and targets", reading, charts, list(frame.columns), records(frame)
    )


def verification_section(ws: Workspace) -> Section | None:
    """How is stage progress verified: entry-rule conformance per stage."""
    frame = ws.verify()
    if frame.empty:
        return None
    worst = frame.dropna(subset=["conformance"]).sort_values("conformance").head(1)
    reading = "Every stage entry met its entry rule."
    if len(worst) and worst["conformance"].iloc[0] < 1:
        row = worst.iloc[0]
        reading = (
            f"The weakest hand-off check is {row['stage']}: "
            f"{row['conformance']:.1%} of {int(row['entries']):,} entries met "
            f"'{row['rule']}'. Run `missionline verify` for the records that did not."
        )
    return Section("verification", "Verification", reading, [], list(frame.columns), records(frame))


def linkage_section(ws: Workspace) -> Section | None:
    """Is the work connected to the mission: spend and initiatives per success factor."""
    if not ws.plan.initiatives:
        return None
    result = ws.linkage()
    frame = pd.DataFrame(
        [{**asdict(r), "initiatives": len(r.initiatives)} for r in result.success_factors]
    )
    share = result.unlinked_spend_share
    reading = (
        f"Orphan initiatives: {', '.join(result.orphan_initiatives) or 'none'}. "
        f"Outcomes no function serves: {', '.join(result.unowned_outcomes) or 'none'}."
    )
    if share is not None:
        reading += f" {share:.0%} of all spend has no line to a success factor."
    return Section(
        "linkage", "Linkage to the mission", reading, [], list(frame.columns), records(frame)
    )
