"""The report's revenue-wave section: one chart a CMO and a CRO read together, and a reading.

The chart has two panels on one shared weekly axis: marketing load as bars (1 = an average
week; the hover shows spend, touches and MQL entries), then bookings and pipeline created as
lines with capacity use on a secondary axis. Collision weeks (a campaign peak meeting a closing
crunch) are shaded red across both panels, idle weeks (capacity idle while marketing is quiet)
grey. The table lists those weeks.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from missionline.cli.output import records
from missionline.metrics.wave import handoff_stages, wave
from missionline.metrics.wave_analysis import best_lag, collisions, quarter_crunches, wave_lag
from missionline.report.charts import PALETTE
from missionline.report.section import Section, figure_html
from missionline.workspace import Workspace

HALF_WEEK = pd.Timedelta(days=3.5)
SHADES = {"collision": "rgba(231, 76, 60, 0.18)", "idle": "rgba(127, 140, 141, 0.15)"}


def _spans(weeks: pd.Series) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """Merge consecutive weeks into (start, end) spans centred on the weekly bars."""
    spans: list[tuple[pd.Timestamp, pd.Timestamp]] = []
    for week in sorted(pd.to_datetime(weeks)):
        start, end = week - HALF_WEEK, week + HALF_WEEK
        if spans and spans[-1][1] >= start:
            spans[-1] = (spans[-1][0], end)
        else:
            spans.append((start, end))
    return spans


def wave_chart(frame: pd.DataFrame, hits: pd.DataFrame, title: str) -> go.Figure:
    """Draw the company's wave: load bars, bookings and pipeline lines, capacity use, shading."""
    weeks = pd.to_datetime(frame["week"])
    figure = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.06,
        row_heights=[0.35, 0.65],
        specs=[[{}], [{"secondary_y": True}]],
    )
    figure.add_bar(
        x=weeks,
        y=frame["marketing_load"],
        name="Marketing load",
        marker_color=PALETTE[1],
        customdata=frame[["marketing_spend", "marketing_touches", "mql_entries"]].to_numpy(),
        hovertemplate="%{x|%d %b %Y}: load %{y:.2f}<br>spend %{customdata[0]:,.0f}, "
        "touches %{customdata[1]:,}, MQLs %{customdata[2]:,}<extra></extra>",
        row=1,
        col=1,
    )
    for column, name, color in (
        ("bookings", "Bookings", PALETTE[0]),
        ("pipeline_created", "Pipeline created", PALETTE[3]),
    ):
        figure.add_scatter(
            x=weeks, y=frame[column], name=name, mode="lines", line_color=color, row=2, col=1
        )
    figure.add_scatter(
        x=weeks,
        y=frame["capacity_use"],
        name="Capacity use",
        mode="lines",
        line={"color": PALETTE[4], "dash": "dot"},
        row=2,
        col=1,
        secondary_y=True,
    )
    for kind, shade in SHADES.items():
        for start, end in _spans(hits.loc[hits["kind"] == kind, "week"]):
            figure.add_vrect(
                x0=start, x1=end, fillcolor=shade, line_width=0, layer="below", row="all", col=1
            )
    figure.update_yaxes(title_text="load (1 = average week)", row=1, col=1)
    figure.update_yaxes(title_text="amount", row=2, col=1, secondary_y=False)
    figure.update_yaxes(title_text="capacity use", tickformat=".0%", row=2, col=1, secondary_y=True)
    figure.update_layout(
        title=title,
        height=560,
        template="plotly_white",
        hovermode="x unified",
        legend={"orientation": "h", "y": -0.08},
        margin={"l": 70, "r": 70, "t": 50, "b": 40},
    )
    return figure


def wave_reading(
    lags: pd.DataFrame, quarters: pd.DataFrame, hits: pd.DataFrame, max_lag: int = 26
) -> str:
    """Two sentences: how far MQLs lead bookings, and how often crunches met campaign peaks."""
    lag = best_lag(lags)
    if lag is None:
        first = f"MQL entries do not lead bookings at any lag up to {max_lag} weeks."
    else:
        r = float(lags.loc[lags["lag_weeks"] == lag, "correlation"].iloc[0])
        first = f"MQLs lead bookings by about {lag} weeks (correlation {r:.2f} at that lag)."
    crunches = quarters[quarters["crunch"].astype(bool)]
    idle = int((hits["kind"] == "idle").sum())
    if crunches.empty:
        second = "No complete quarter ended in a closing crunch"
    else:
        second = (
            f"{int(crunches['collided'].sum())} of {len(crunches)} quarter-end crunches "
            "collided with campaign peaks"
        )
    return f"{first} {second}; capacity sat idle while marketing was quiet in {idle} weeks."


def wave_section(ws: Workspace) -> Section | None:
    """The revenue wave: marketing load against sales capacity, pipeline and bookings."""
    if not handoff_stages(ws.plan):
        return None  # without a marketing-to-sales hand-off there are no MQLs to line up
    frame = wave(ws.tables(), ws.schema, ws.plan)
    if frame.empty:
        return None
    hits = collisions(frame)
    lags = wave_lag(frame)
    reading = wave_reading(lags, quarter_crunches(frame), hits)
    title = f"{ws.plan.company}: the revenue wave (weekly)"
    charts = [figure_html(wave_chart(frame, hits, title))]
    return Section("wave", "Revenue wave", reading, charts, list(hits.columns), records(hits))
