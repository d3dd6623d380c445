"""The report's top-customers and segment-matrix sections (see docs/customers.md)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from missionline.alignment.mission_map import format_value
from missionline.cli.output import records
from missionline.customers import segment_priorities
from missionline.customers.top import top_customers_with_model
from missionline.report.charts import PALETTE
from missionline.report.section import Section, figure_html
from missionline.workspace import Workspace

TOP = 10
LAYOUT = {
    "height": 460,
    "template": "plotly_white",
    "margin": {"l": 70, "r": 40, "t": 50, "b": 50},
    "legend": {"orientation": "h", "y": -0.2},
}
TOP_COLUMNS = ["market", "rank", "account_id", "name", "segment", "status", "lifetime_value"]
TOP_COLUMNS += ["next_move", "reason"]
SEGMENT_COLUMNS = ["rank", "market", "segment", "addressable", "customer_share", "win_rate"]
SEGMENT_COLUMNS += ["average_deal_size", "cycle_days", "clv", "effort", "score", "growth"]


def segment_matrix(table: pd.DataFrame) -> go.Figure:
    """Value (CLV) against effort per won account; bubble size = addressable accounts."""
    rows = table.dropna(subset=["clv", "effort"])
    figure = go.Figure()
    for i, (market, group) in enumerate(rows.groupby("market", sort=True)):
        figure.add_scatter(
            name=str(market),
            x=group["effort"],
            y=group["clv"],
            mode="markers+text",
            text=group["segment"],
            textposition="top center",
            marker={
                "size": group["addressable"],
                "sizemode": "area",
                "sizeref": 2.0 * float(rows["addressable"].max()) / 60.0**2,
                "color": PALETTE[i % len(PALETTE)],
                "opacity": 0.7,
            },
        )
    figure.update_layout(
        title="Segment matrix: value per won account against the effort to win it",
        xaxis={"title": "effort: marketing CAC + sales effort per won account"},
        yaxis={"title": "value: mean lifetime value of won accounts"},
        **LAYOUT,
    )
    return figure


def top_customers_section(ws: Workspace) -> Section | None:
    """The top customers per market with the next move; None without customers."""
    frame, retention = top_customers_with_model(ws.tables(), ws.schema, ws.plan, "market", TOP)
    customers = frame[frame["status"] != "prospect"]
    if customers.empty:
        return None
    moves = customers["next_move"].value_counts()
    markets = customers["market"].nunique(dropna=False)
    reading = (
        f"The top {TOP} customers of each of {markets} markets hold "
        f"{format_value(float(customers['lifetime_value'].sum()), None)} of lifetime value "
        f"(realised plus 3 years predicted with {retention.describe()}); "
        f"{int(moves.get('expand', 0))} have headroom to expand and "
        f"{int(moves.get('keep', 0))} are to keep. "
        f"Each market's best-fitting prospects are listed as acquisition targets."
    )
    return Section(
        "top-customers",
        "Top customers per market",
        reading,
        [],
        TOP_COLUMNS,
        records(frame[TOP_COLUMNS]),
    )


def segments_section(ws: Workspace) -> Section | None:
    """The segment matrix (value vs effort) and the priority findings; None without wins."""
    result = segment_priorities(ws.tables(), ws.schema, ws.plan)
    table = result.table
    if table["score"].notna().sum() == 0:
        return None
    best = table.iloc[0]
    findings = " ".join(f.message for f in result.findings if f.level == "market")
    reading = (
        f"{best['segment']} in {best['market']} returns the most value per unit of sales and "
        f"marketing effort ({best['score']:.1f}; {result.formula.split(';')[0]}). "
        + (findings or "The measured market ranking agrees with the plan's priorities.")
    )
    return Section(
        "segments",
        "Segment priorities",
        reading,
        [figure_html(segment_matrix(table))],
        SEGMENT_COLUMNS,
        records(table[SEGMENT_COLUMNS]),
    )
