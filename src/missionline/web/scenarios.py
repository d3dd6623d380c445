"""The Plan page's scenarios: the plan's saved scenarios side by side with the baseline.

The numbers are those ``missionline scenario`` prints (one column per scenario, the baseline
first), from the same :func:`missionline.cli.cascade_payloads.scenario_frame`; the chart
compares each scenario's run-rate attainment, the share of each success factor's target the
funnel delivers at today's run rate. Scenarios are read, never written, here:
``missionline scenario --save`` writes them into the plan.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from missionline.cli.cascade_payloads import scenario_frame
from missionline.cli.output import records
from missionline.errors import MissionlineError
from missionline.planning.scenarios import BASELINE
from missionline.report.charts import PALETTE
from missionline.report.section import Section, figure_html
from missionline.workspace import Workspace

KEYS = ["success_factor", "measure", "stage"]
ATTAINMENT = "run_rate_attainment"
LAYOUT = {
    "template": "plotly_white",
    "margin": {"l": 70, "r": 40, "t": 50, "b": 40},
    "legend": {"orientation": "h", "y": -0.15},
}


def side_by_side(frame: pd.DataFrame) -> pd.DataFrame:
    """The scenario rows as the CLI's table: one row per factor, measure and stage."""
    frame = frame.assign(stage=frame["stage"].fillna(""))
    wide = frame.pivot(index=KEYS, columns="scenario", values="value").reset_index()
    order = frame[KEYS].drop_duplicates()
    return order.merge(wide, on=KEYS)[[*KEYS, *frame["scenario"].unique()]]


def attainment_chart(wide: pd.DataFrame, names: dict[str, str]) -> go.Figure:
    """Run-rate attainment per success factor, one bar per scenario, against the target."""
    rows = wide[wide["measure"] == ATTAINMENT]
    figure = go.Figure()
    for i, scenario in enumerate(wide.columns[len(KEYS) :]):
        figure.add_bar(
            name=names.get(scenario, scenario),
            x=rows["success_factor"],
            y=rows[scenario],
            marker_color=PALETTE[i % len(PALETTE)],
        )
    figure.add_hline(y=1.0, line={"dash": "dot", "color": "#888"})
    figure.update_layout(
        title="Share of the target the funnel delivers at the run rate (dotted: the target)",
        yaxis={"tickformat": ".0%", "title": "run-rate attainment"},
        barmode="group",
        height=380,
        **LAYOUT,
    )
    return figure


def scenarios_reading(wide: pd.DataFrame, names: dict[str, str], sets: dict[str, list[str]]) -> str:
    """Two sentences: the baseline's run-rate attainment, then each scenario's and its changes."""
    measured = wide[(wide["measure"] == ATTAINMENT) & wide[BASELINE].notna()]
    if measured.empty:
        return (
            "The run rate cannot be measured (no first-stage entries or spend in the lookback "
            "window): the table compares the needs and budgets."
        )
    row = measured.iloc[0]
    factor, base = row["success_factor"], float(row[BASELINE])
    text = f"At the run rate the funnel delivers {base:.0%} of the {factor} target."
    changes = [
        f"{names.get(s, s)} ({', '.join(sets.get(s, []))}) {float(row[s]):.0%} "
        f"({100 * (float(row[s]) - base):+.0f} points)"
        for s in wide.columns[len(KEYS) + 1 :]
        if pd.notna(row[s])
    ]
    return f"{text} With the saved scenarios: {'; '.join(changes)}." if changes else text


def scenarios_section(ws: Workspace) -> Section:
    """The plan's saved scenarios against the baseline: the table, the chart and a reading."""
    if not ws.plan.scenarios:
        raise MissionlineError(
            "The plan has no saved scenarios: save one with missionline scenario --set CHANGE "
            '--name "NAME" --save (see docs/cascade.md).'
        )
    frame, sets = scenario_frame(ws, [])
    wide = side_by_side(frame)
    names = {s.id: s.name for s in ws.plan.scenarios}
    return Section(
        "scenarios",
        "Scenarios",
        scenarios_reading(wide, names, sets),
        [figure_html(attainment_chart(wide, names))],
        list(wide.columns),
        records(wide),
    )
