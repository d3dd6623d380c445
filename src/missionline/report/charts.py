"""Plotly figures for metrics; the report and the web app draw the same figures."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

PALETTE = ["#1f4e79", "#2e86c1", "#48c9b0", "#f5b041", "#e74c3c", "#8e44ad", "#7f8c8d"]


def funnel_chart(frame: pd.DataFrame, title: str = "Funnel") -> go.Figure:
    """Draw entries per stage as a funnel, labelled with the step conversion."""
    labels = [f"{c:.1%} to next" if pd.notna(c) else "" for c in frame["conversion_to_next"]]
    figure = go.Figure(
        go.Funnel(
            y=frame["stage"],
            x=frame["entries"],
            text=labels,
            textinfo="value+text",
            marker={"color": PALETTE[1]},
            connector={"line": {"color": "#bbb"}},
        )
    )
    figure.update_layout(
        title=title,
        margin={"l": 120, "r": 30, "t": 50, "b": 30},
        height=420,
        template="plotly_white",
    )
    return figure


def conversion_by_chart(frame: pd.DataFrame, dimension: str, title: str) -> go.Figure:
    """Draw step conversion per stage, one bar group per value of ``dimension``."""
    figure = go.Figure()
    stages = list(dict.fromkeys(frame["stage"]))[:-1]
    for i, (value, rows) in enumerate(frame.groupby(dimension, sort=True)):
        rows = rows.set_index("stage").reindex(stages)
        figure.add_bar(
            name=str(value),
            x=stages,
            y=rows["conversion_to_next"],
            marker_color=PALETTE[i % len(PALETTE)],
        )
    figure.update_layout(
        title=title,
        barmode="group",
        yaxis_tickformat=".0%",
        height=380,
        template="plotly_white",
        margin={"l": 60, "r": 30, "t": 50, "b": 40},
    )
    return figure
