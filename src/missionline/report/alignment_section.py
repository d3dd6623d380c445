"""Report sections on alignment: the index with its trend, components and drivers; the survey."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from missionline.alignment.index import AlignmentIndex, alignment_index, alignment_trend
from missionline.alignment.survey import compared, survey_gap, survey_results
from missionline.cli.output import records
from missionline.report.charts import PALETTE
from missionline.report.section import Section, figure_html
from missionline.workspace import Workspace

TREND_PERIOD = "quarter"
LAYOUT = {"template": "plotly_white", "margin": {"l": 160, "r": 40, "t": 50, "b": 40}}
UNMEASURED = "#bbbbbb"


def trend_chart(trend: list[AlignmentIndex]) -> go.Figure:
    """The index per period, with the coverage in the hover text."""
    figure = go.Figure(
        go.Scatter(
            x=[str(r.period) for r in trend],
            y=[r.index for r in trend],
            mode="lines+markers",
            text=[f"coverage {r.coverage:.0%}" if r.coverage is not None else "" for r in trend],
            marker_color=PALETTE[0],
        )
    )
    figure.update_layout(
        title=f"Alignment index by {TREND_PERIOD}", yaxis={"range": [0, 100]}, height=340, **LAYOUT
    )
    return figure


def components_chart(result: AlignmentIndex) -> go.Figure:
    """One bar per component (0-100); unmeasured components are grey and labelled so."""
    names = [f"{c.id} (weight {c.weight:g})" for c in result.components]
    figure = go.Figure(
        go.Bar(
            y=names,
            x=[c.score if c.score is not None else 0 for c in result.components],
            orientation="h",
            text=[
                f"{c.score:.0f}" if c.score is not None else "not measured"
                for c in result.components
            ],
            textposition="auto",
            marker_color=[PALETTE[1] if c.measured else UNMEASURED for c in result.components],
        )
    )
    figure.update_layout(
        title="Components (0-100)",
        xaxis={"range": [0, 100]},
        yaxis={"autorange": "reversed"},
        height=max(300, 36 * len(names) + 110),
        **LAYOUT,
    )
    return figure


def alignment_reading(result: AlignmentIndex, trend: list[AlignmentIndex]) -> str:
    """Two sentences: the index and its change, then the biggest drag and what to do."""
    if result.index is None:
        return "No component of the alignment index could be measured yet."
    text = f"The alignment index is {result.index:.0f} of 100"
    text += f" (coverage {result.coverage:.0%})" if result.coverage is not None else ""
    scored = [r for r in trend if r.index is not None]
    if len(scored) > 1:
        text += f", from {scored[0].index:.0f} in {scored[0].period} to {scored[-1].index:.0f} "
        text += f"in {scored[-1].period}"
    text += "."
    tops = result.drivers[result.drivers["kind"] == "component"]
    if tops.empty:
        return text
    top = tops.iloc[0]
    return f"{text} The biggest drag is {top['id']} ({top['impact']:.1f} points): {top['advice']}"


def alignment_section(ws: Workspace) -> Section:
    """The alignment index: trend, component bars and the drivers table."""
    tables, schema, plan = ws.tables(), ws.schema, ws.plan
    result = alignment_index(tables, schema, plan)
    trend = alignment_trend(tables, schema, plan, TREND_PERIOD)
    charts = [figure_html(components_chart(result))]
    if trend:
        charts.insert(0, figure_html(trend_chart(trend)))
    table = result.drivers
    return Section(
        "alignment",
        "Alignment index",
        alignment_reading(result, trend),
        charts,
        list(table.columns),
        records(table),
    )


def gap_chart(statements: pd.DataFrame, overall: pd.Series, pair: tuple[str, str]) -> go.Figure:
    """Each statement's gap between the compared functions with its 95% interval."""
    rows = statements.dropna(subset=["gap"])
    labels = [
        "overall",
        *(f"{s} ({p})" for s, p in zip(rows["statement"], rows["pillar"], strict=True)),
    ]
    gaps = [overall["gap"], *rows["gap"]]
    low = [overall["ci_low"], *rows["ci_low"]]
    high = [overall["ci_high"], *rows["ci_high"]]
    figure = go.Figure(
        go.Scatter(
            x=gaps,
            y=labels,
            mode="markers",
            marker={"color": [PALETTE[4], *[PALETTE[0]] * len(rows)], "size": 9},
            error_x={
                "type": "data",
                "symmetric": False,
                "array": [h - g for h, g in zip(high, gaps, strict=True)],
                "arrayminus": [g - lo for g, lo in zip(gaps, low, strict=True)],
            },
        )
    )
    figure.add_vline(x=0, line_color="#888")
    figure.update_layout(
        title=f"{pair[0]} minus {pair[1]}, per statement (95% Welch interval)",
        xaxis={"title": "gap in points on the 1-5 scale"},
        yaxis={"autorange": "reversed"},
        height=max(320, 24 * len(labels) + 120),
        **LAYOUT,
    )
    return figure


def survey_reading(overall: pd.Series, statements: pd.DataFrame, pair: tuple[str, str]) -> str:
    """Two sentences: the overall gap with its interval, then the statements furthest apart."""
    if pd.isna(overall["gap"]):
        return (
            f"{pair[0]} and {pair[1]} do not both have 3 or more respondents: the gap cannot be "
            "shown."
        )
    text = (
        f"{pair[0]} rates alignment {overall['gap']:+.2f} points against {pair[1]} on average "
        f"(95% interval {overall['ci_low']:+.2f} to {overall['ci_high']:+.2f}, "
        f"{int(overall['respondents_a'])} and {int(overall['respondents_b'])} respondents)."
    )
    apart = statements.dropna(subset=["gap"])
    apart = apart.reindex(apart["gap"].abs().sort_values(ascending=False).index).head(2)
    if apart.empty:
        return text
    named = " and ".join(
        f"{r['statement']} ({r['pillar']}, {r['gap']:+.2f})" for r in apart.to_dict("records")
    )
    return f"{text} The answers are furthest apart on {named}."


def survey_section(ws: Workspace) -> Section | None:
    """The questionnaire: the gap per statement with intervals, and the statement table."""
    tables, schema, plan = ws.tables(), ws.schema, ws.plan
    statements = survey_results(tables, schema, plan, "statement")
    if statements["respondents"].sum() == 0:
        return None
    overall = survey_gap(tables, schema, plan).iloc[0]
    pair = compared(plan)
    charts = [figure_html(gap_chart(statements, overall, pair))] if pd.notna(overall["gap"]) else []
    return Section(
        "survey",
        "Alignment questionnaire",
        survey_reading(overall, statements, pair),
        charts,
        list(statements.columns),
        records(statements),
    )
