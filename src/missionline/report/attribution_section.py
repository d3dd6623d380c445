"""Report sections about attribution: every model side by side, and initiative ROI."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from missionline.alignment.mission_map import format_value
from missionline.cli.output import records
from missionline.models.attribution.credit import compare_models
from missionline.models.attribution.journeys import NONE_LABEL, workspace_paths
from missionline.models.attribution.roi import initiative_roi
from missionline.report.charts import PALETTE
from missionline.report.section import Section, figure_html
from missionline.workspace import Workspace

LAYOUT = {
    "height": 420,
    "template": "plotly_white",
    "margin": {"l": 70, "r": 30, "t": 50, "b": 60},
    "legend": {"orientation": "h", "y": -0.2},
}
LEVEL = "person"


def _comparison_chart(frame: pd.DataFrame) -> go.Figure:
    """Conversions credited to each channel, one bar per model."""
    figure = go.Figure()
    for i, model in enumerate(c for c in frame.columns if c != "channel"):
        figure.add_bar(
            name=model, x=frame["channel"], y=frame[model], marker_color=PALETTE[i % len(PALETTE)]
        )
    figure.update_layout(
        title="Conversions credited to each channel, by model",
        barmode="group",
        yaxis={"title": "conversions"},
        **LAYOUT,
    )
    return figure


def _comparison_reading(frame: pd.DataFrame) -> str:
    """Two sentences: what last touch and Markov credit most, and where the models disagree."""
    total = float(frame["markov"].sum())
    if total <= 0:
        return "No journey has converted yet, so there is nothing to credit."
    last = frame.iloc[int(frame["last_touch"].to_numpy().argmax())]
    ordered = frame.sort_values("markov", ascending=False)
    top, second = ordered.iloc[0], ordered.iloc[min(1, len(ordered) - 1)]
    models = frame.drop(columns="channel").to_numpy()
    widest = int((models.max(axis=1) - models.min(axis=1)).argmax())
    return (
        f"Of {total:,.0f} conversions, last touch gives {last['channel']} "
        f"{last['last_touch'] / total:.0%}, while the Markov chain credits {top['channel']} "
        f"{top['markov'] / total:.0%} and {second['channel']} {second['markov'] / total:.0%}. "
        f"The models disagree most on {frame['channel'].iloc[widest]}: from "
        f"{models[widest].min():,.0f} to {models[widest].max():,.0f} conversions."
    )


def attribution_section(ws: Workspace) -> Section | None:
    """Every attribution model side by side, by channel, over people's journeys."""
    tables = ws.tables()
    if not tables["touches"].count().execute():
        return None
    paths = workspace_paths(tables, ws.schema, ws.plan, LEVEL)
    frame = compare_models(paths)
    return Section(
        "attribution",
        "Attribution by channel",
        _comparison_reading(frame),
        [figure_html(_comparison_chart(frame))],
        list(frame.columns),
        records(frame),
    )


def _roi_chart(frame: pd.DataFrame) -> go.Figure:
    """ROI per initiative with spend (bars), labelled with revenue against cost."""
    labels = [
        f"{format_value(r, None)} / {format_value(c, None)}"
        for r, c in zip(frame["attributed_revenue"], frame["cost"], strict=True)
    ]
    colours = [PALETTE[2] if v >= 0 else PALETTE[4] for v in frame["roi"]]
    figure = go.Figure(
        go.Bar(x=frame["initiative"], y=frame["roi"], text=labels, marker_color=colours)
    )
    figure.update_layout(
        title="Initiative ROI under the Markov model (labels: attributed revenue / cost)",
        yaxis={"title": "(revenue - cost) ÷ cost"},
        **LAYOUT,
    )
    return figure


def _roi_reading(frame: pd.DataFrame) -> str:
    """Two sentences: the best and worst return, then the initiatives without spend."""
    costed = frame[(frame["cost"] > 0) & (frame["initiative"] != NONE_LABEL)]
    if costed.empty:
        return "No spend is booked to an initiative, so no initiative has an ROI."
    ordered = costed.sort_values("roi", ascending=False)
    best, worst = ordered.iloc[0], ordered.iloc[-1]
    text = (
        f"Under the Markov model, {best['initiative']} returns the most: "
        f"{format_value(best['attributed_revenue'], None)} of attributed revenue for "
        f"{format_value(best['cost'], None)} of spend (ROI {best['roi']:.1f}); "
        f"{worst['initiative']} returns the least (ROI {worst['roi']:.1f})."
    )
    free = frame[(frame["cost"] == 0) & (frame["attributed_conversions"] > 0)]
    free = free[free["initiative"] != NONE_LABEL]
    if len(free):
        text += (
            f" {len(free)} initiative(s) earned credit without recorded spend "
            f"({', '.join(free['initiative'])}), so their ROI is unknown."
        )
    return text


def initiative_roi_section(ws: Workspace) -> Section | None:
    """Revenue credited to each initiative by the Markov model against its spend."""
    tables = ws.tables()
    if not tables["touches"].count().execute():
        return None
    frame = initiative_roi(tables, ws.schema, ws.plan, "markov", LEVEL)
    costed = frame[(frame["cost"] > 0) & (frame["initiative"] != NONE_LABEL)]
    charts = [figure_html(_roi_chart(costed))] if len(costed) else []
    return Section(
        "initiative-roi",
        "Initiative ROI",
        _roi_reading(frame),
        charts,
        list(frame.columns),
        records(frame),
    )
