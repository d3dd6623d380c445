"""The report section of the initiative register: money against credited revenue, and evidence."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from missionline.alignment.mission_map import format_value
from missionline.cli.output import records
from missionline.models.initiatives import initiative_register, joined_lists
from missionline.report.attribution_section import LAYOUT
from missionline.report.charts import PALETTE
from missionline.report.section import Section, figure_html
from missionline.workspace import Workspace

MODEL = "markov"
BARS = (("budget", "budget"), ("spend", "spend"), ("attributed_revenue", "attributed revenue"))


def _chart(frame: pd.DataFrame) -> go.Figure:
    """Budget, spend and attributed revenue side by side for each initiative."""
    figure = go.Figure()
    for i, (column, label) in enumerate(BARS):
        figure.add_bar(
            name=label, x=frame["initiative"], y=frame[column], marker_color=PALETTE[i + 1]
        )
    figure.update_layout(
        title="Budget, spend and attributed revenue (Markov) per initiative",
        barmode="group",
        yaxis={"title": "amount"},
        **LAYOUT,
    )
    return figure


def _names(frame: pd.DataFrame) -> str:
    """The initiatives' ids as a readable list."""
    return ", ".join(frame["initiative"])


def initiatives_reading(frame: pd.DataFrame) -> str:
    """Two sentences: the best and worst ROI, then the initiatives that lack evidence."""
    costed = frame[frame["roi"].notna()].sort_values("roi", ascending=False)
    if costed.empty:
        text = "No spend is booked to a plan initiative, so no initiative has an ROI."
    else:
        best, worst = costed.iloc[0], costed.iloc[-1]
        text = (
            f"{best['initiative']} returns the most under the Markov model "
            f"(ROI {best['roi']:.1f} on {format_value(best['spend'], None)} of spend) and "
            f"{worst['initiative']} the least (ROI {worst['roi']:.1f})."
        )
    untested = frame[[not tests for tests in frame["experiments"]]]
    uncredited = frame[frame["attributed_revenue"] <= 0]
    if len(untested):
        text += (
            f" {len(untested)} of {len(frame)} initiatives have no experiment testing their "
            "hypothesis"
        )
        text += f"; {_names(uncredited)} earned no attributed revenue." if len(uncredited) else "."
    elif len(uncredited):
        text += f" {_names(uncredited)} earned no attributed revenue."
    return text


def initiatives_section(ws: Workspace) -> Section | None:
    """The initiative register: each initiative's money, status, verdicts and credit."""
    if not ws.plan.initiatives:
        return None
    frame = initiative_register(ws.tables(), ws.schema, ws.plan, MODEL)
    return Section(
        "initiatives",
        "Initiative register",
        initiatives_reading(frame),
        [figure_html(_chart(frame))],
        list(frame.columns),
        records(joined_lists(frame)),
    )
