"""Report section on hand-offs: share answered within SLA and response time, by team."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from missionline.cli.output import records
from missionline.metrics.sla import FIRST_SALES_TOUCH, open_breaches, sla
from missionline.plan.models import Plan
from missionline.report.charts import PALETTE
from missionline.report.section import Section, figure_html
from missionline.workspace import Workspace

MIN_HANDOFFS = 20  # a team with fewer hand-offs is too small to name as the slowest
NO_TEAM = "(no team)"


def sla_label(hours: float) -> str:
    """Write an SLA in the unit a plan would use: 24h, 14d, 1w."""
    if hours % 168 == 0:
        return f"{hours / 168:g}w"
    if hours % 24 == 0:
        return f"{hours / 24:g}d"
    return f"{hours:g}h"


def _hours(value: float) -> str:
    """A response time in hours, or in days when it is long."""
    return f"{value / 24:.1f} days" if value >= 72 else f"{value:.1f} h"


def sla_chart(
    by_team: pd.DataFrame, title: str = "Share answered within SLA, by team"
) -> go.Figure:
    """Draw each stage and team's share within SLA as a bar, labelled with the median hours."""
    figure = go.Figure()
    for i, (stage, rows) in enumerate(by_team.groupby("stage", sort=False)):
        rows = rows.sort_values("share_within_sla")
        labels = [
            f"{s:.0%} · median {_hours(m)}" if pd.notna(m) else f"{s:.0%}"
            for s, m in zip(rows["share_within_sla"], rows["median_hours"], strict=True)
        ]
        figure.add_bar(
            name=f"{stage} ({sla_label(float(rows['sla_hours'].iloc[0]))})",
            y=[f"{stage} · {team}" for team in rows["team"]],
            x=rows["share_within_sla"],
            orientation="h",
            text=labels,
            textposition="auto",
            marker_color=PALETTE[i % len(PALETTE)],
        )
    figure.update_layout(
        title=title,
        barmode="stack",  # each bar has its own category: full-width bars, no empty slots
        xaxis={"tickformat": ".0%", "range": [0, 1]},
        yaxis={"autorange": "reversed"},  # plan order from the top
        height=max(300, 40 * len(by_team) + 120),
        template="plotly_white",
        margin={"l": 200, "r": 30, "t": 50, "b": 40},
    )
    return figure


def sla_reading(overall: pd.DataFrame, by_team: pd.DataFrame, overdue: int, plan: Plan) -> str:
    """Two sentences: the weakest SLA, and the team furthest below its stage (and what is late)."""
    within = {s.id: s.sla.within.strip() for s in plan.lifecycle.stages if s.sla}
    stages = overall[overall["handed_over"] > 0]
    if stages.empty:
        return "No hand-offs yet: import stage events to measure the SLAs."
    worst = stages.sort_values("share_within_sla", kind="stable").iloc[0]
    verb = "were answered" if worst["until"] == FIRST_SALES_TOUCH else f"reached {worst['until']}"
    median = f" (median {_hours(worst['median_hours'])})" if pd.notna(worst["median_hours"]) else ""
    reading = (
        f"{worst['share_within_sla']:.0%} of {int(worst['handed_over']):,} {worst['stage']} "
        f"hand-offs {verb} within {within[worst['stage']]}{median}."
    )
    waiting = f"{overdue:,} hand-off{'s are' if overdue != 1 else ' is'} overdue now"
    teams = by_team[(by_team["handed_over"] >= MIN_HANDOFFS) & (by_team["team"] != NO_TEAM)]
    teams = teams.merge(overall[["stage", "share_within_sla"]], on="stage", suffixes=("", "_stage"))
    teams = teams[teams.groupby("stage")["team"].transform("count") > 1]
    if teams.empty:
        return f"{reading} {waiting[0].upper()}{waiting[1:]}."
    gap = teams["share_within_sla"] - teams["share_within_sla_stage"]
    slow = teams.iloc[int(gap.to_numpy().argmin())]
    median = f", median {_hours(slow['median_hours'])}" if pd.notna(slow["median_hours"]) else ""
    return (
        f"{reading} Furthest behind is {slow['team']} on {slow['stage']}: "
        f"{slow['share_within_sla']:.0%} within {within[slow['stage']]} against "
        f"{slow['share_within_sla_stage']:.0%} overall{median}; {waiting}."
    )


def sla_section(ws: Workspace) -> Section | None:
    """Hand-offs and SLAs: share within SLA and median response by team, and the overall table."""
    if not any(s.sla for s in ws.plan.lifecycle.stages):
        return None
    tables, schema, plan = ws.tables(), ws.schema, ws.plan
    overall = sla(tables, schema, plan)
    if int(overall["handed_over"].sum()) == 0:
        return None
    by_team = sla(tables, schema, plan, by=["team"])
    by_team["team"] = by_team["team"].fillna(NO_TEAM)
    overdue = len(open_breaches(tables, schema, plan))
    charts = [figure_html(sla_chart(by_team))]
    return Section(
        "sla",
        "Hand-offs and SLAs",
        sla_reading(overall, by_team, overdue, plan),
        charts,
        list(overall.columns),
        records(overall),
    )
