"""The report's lifecycle section: cohort retention heat map, NRR and GRR trend, by segment."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from missionline.cli.output import records
from missionline.metrics.lifecycle import expansion, net_revenue_retention, retention
from missionline.report.charts import PALETTE
from missionline.report.section import Section, figure_html
from missionline.workspace import Workspace

LAYOUT = {
    "template": "plotly_white",
    "margin": {"l": 90, "r": 40, "t": 50, "b": 50},
    "legend": {"orientation": "h", "y": -0.2},
}
TABLE_COLUMNS = [
    "customers",
    "arr_start",
    "nrr",
    "grr",
    "logo_churn_rate",
    "revenue_churn_rate",
    "logo_expansion_rate",
]


def _heat_map(cohorts: pd.DataFrame) -> go.Figure:
    """Logo retention per quarterly cohort (rows) and age in quarters (columns)."""
    grid = cohorts.pivot(index="cohort", columns="age", values="logo_retention")
    labels = [[f"{v:.0%}" if pd.notna(v) else "" for v in row] for row in grid.to_numpy()]
    figure = go.Figure(
        go.Heatmap(
            z=grid.to_numpy(),
            x=[int(a) for a in grid.columns],
            y=[str(c) for c in grid.index],
            text=labels,
            texttemplate="%{text}",
            colorscale="Blues",
            zmin=0.0,
            zmax=1.0,
            colorbar={"tickformat": ".0%"},
        )
    )
    figure.update_layout(
        title="Logo retention by acquisition cohort (quarter) and age in quarters",
        xaxis={"title": "age (quarters after the acquisition quarter)", "dtick": 1},
        yaxis={"title": "cohort", "autorange": "reversed", "type": "category"},
        height=max(320, 40 * len(grid) + 140),
        **LAYOUT,
    )
    return figure


def _trend(nrr: pd.DataFrame) -> go.Figure:
    """NRR and GRR over the trailing twelve months at each quarter end."""
    x = [str(p) for p in nrr["period"]]
    figure = go.Figure()
    figure.add_scatter(name="NRR", x=x, y=nrr["nrr"], mode="lines+markers", marker_color=PALETTE[0])
    figure.add_scatter(name="GRR", x=x, y=nrr["grr"], mode="lines+markers", marker_color=PALETTE[3])
    figure.update_layout(
        title="Net and gross revenue retention, trailing twelve months at each quarter end",
        yaxis={"tickformat": ".0%", "title": "retention"},
        xaxis={"title": "quarter", "type": "category"},
        height=380,
        **LAYOUT,
    )
    return figure


def _reading(last: pd.Series, by_segment: pd.DataFrame) -> str:
    """One or two sentences: the latest NRR, GRR and churn, then the best and worst segment."""
    to = (pd.Timestamp(last["measured_at"]) - pd.Timedelta(microseconds=1)).date()
    text = (
        f"NRR was {last['nrr']:.0%} over the twelve months to {to:%d %B %Y} "
        f"(GRR {last['grr']:.0%}); {last['logo_churn_rate']:.1%} of the "
        f"{int(last['customers']):,} customers of twelve months before churned."
    )
    rates = by_segment.dropna(subset=["nrr", "segment"])
    if len(rates) > 1:
        ordered = rates.sort_values("nrr")
        low, high = ordered.iloc[0], ordered.iloc[-1]
        text += (
            f" {str(high['segment']).replace('_', ' ').capitalize()} retains best "
            f"(NRR {high['nrr']:.0%}, GRR {high['grr']:.0%}), "
            f"{str(low['segment']).replace('_', ' ')} least "
            f"(NRR {low['nrr']:.0%}, GRR {low['grr']:.0%})."
        )
    return text


def lifecycle_section(ws: Workspace) -> Section | None:
    """Cohort logo retention, the NRR and GRR trend, and the latest year by segment.

    None when the data hold no customer yet (no positive ``new`` revenue row).
    """
    tables, schema, plan = ws.tables(), ws.schema, ws.plan
    cohorts = retention(tables, schema, plan, period="quarter")
    if cohorts.empty:
        return None
    charts = [figure_html(_heat_map(cohorts))]
    nrr = net_revenue_retention(tables, schema, plan, period="quarter")
    by_segment = net_revenue_retention(tables, schema, plan, by=["segment"], period="quarter")
    if nrr.empty:  # less than a year of customers: no trailing-twelve-month window yet
        reading = (
            f"{int(cohorts.drop_duplicates('cohort')['customers'].sum()):,} customers so far; "
            "NRR needs customers who were customers twelve months ago."
        )
        return Section("lifecycle", "Customer lifecycle", reading, charts, [], [])
    charts.append(figure_html(_trend(nrr)))
    latest = by_segment[by_segment["period"] == nrr["period"].iloc[-1]]
    advocacy = expansion(tables, schema, plan, by=["segment"], period="year")
    totals = advocacy.groupby("segment", dropna=False)[["customers", "advocates"]].sum()
    share = (totals["advocates"] / totals["customers"]).rename("advocate_share")
    table = latest[["segment", *TABLE_COLUMNS]].merge(share.reset_index(), on="segment", how="left")
    if advocacy["advocate_share"].isna().all():  # the plan has no advocate stage
        table["advocate_share"] = float("nan")
    return Section(
        "lifecycle",
        "Customer lifecycle",
        _reading(nrr.iloc[-1], latest),
        charts,
        list(table.columns),
        records(table),
    )
