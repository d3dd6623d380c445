"""The report's customer lifetime value section, and the CLV charts the CLI draws too.

The section fits BG/NBD and Gamma-Gamma on the workspace's purchases per account (weeks,
calibration up to the last purchase day) and shows each account's discounted value of the
next 52 weeks at a 10% annual discount rate.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from missionline.alignment.mission_map import format_value
from missionline.cli.output import records
from missionline.errors import MissionlineError
from missionline.models.clv import (
    FitResult,
    fit_bgnbd,
    fit_gamma_gamma,
    predict,
    workspace_summary,
)
from missionline.report.charts import PALETTE
from missionline.report.section import Section, figure_html
from missionline.workspace import Workspace

HORIZON_WEEKS = 52
DISCOUNT_RATE = 0.10
MIN_REPEAT_BUYERS = 20
NO_DROPOUT = 1e-6
TOP_ACCOUNTS = 20
TITLE = "Customer lifetime value"
LAYOUT = {
    "height": 380,
    "template": "plotly_white",
    "margin": {"l": 70, "r": 40, "t": 50, "b": 50},
    "legend": {"orientation": "h", "y": -0.2},
}
COLUMNS = [
    "account_id",
    "name",
    "market",
    "segment",
    "frequency",
    "recency",
    "T",
    "expected_purchases",
    "p_alive",
    "expected_spend",
    "clv",
]


def holdout_chart(comparison: pd.DataFrame) -> go.Figure:
    """Mean holdout purchases, actual and predicted, by calibration repeat purchases."""
    x = comparison["calibration_repeat_purchases"].astype(str)
    figure = go.Figure()
    figure.add_scatter(
        name="actual",
        x=x,
        y=comparison["actual_mean"],
        mode="lines+markers",
        marker_color=PALETTE[0],
    )
    figure.add_scatter(
        name="predicted",
        x=x,
        y=comparison["predicted_mean"],
        mode="lines+markers",
        line={"dash": "dash"},
        marker_color=PALETTE[3],
    )
    figure.update_layout(
        title="Holdout purchases per customer by repeat purchases in the calibration period",
        xaxis={"title": "repeat purchases in the calibration period", "type": "category"},
        yaxis={"title": "mean purchases in the holdout period", "rangemode": "tozero"},
        **LAYOUT,
    )
    return figure


def clv_histogram(values: pd.Series, currency: str | None = None) -> go.Figure:
    """The distribution of customer lifetime values (accounts per value band)."""
    figure = go.Figure(go.Histogram(x=values, nbinsx=40, marker_color=PALETTE[1]))
    figure.update_layout(
        title=f"Discounted value of the next {HORIZON_WEEKS} weeks per account",
        xaxis={"title": "CLV" + (f" ({currency})" if currency else "")},
        yaxis={"title": "accounts"},
        bargap=0.05,
        **LAYOUT,
    )
    return figure


def value_by_chart(frame: pd.DataFrame, dimension: str) -> go.Figure:
    """Total CLV per value of ``dimension`` (bars) and the mean P(alive) (line)."""
    grouped = frame.groupby(frame[dimension].fillna("(none)"), sort=True).agg(
        clv=("clv", "sum"), p_alive=("p_alive", "mean")
    )
    figure = go.Figure()
    figure.add_bar(name="CLV", x=grouped.index, y=grouped["clv"], marker_color=PALETTE[1])
    figure.add_scatter(
        name="mean P(alive)",
        x=grouped.index,
        y=grouped["p_alive"],
        yaxis="y2",
        mode="markers",
        marker={"size": 10, "color": PALETTE[4]},
    )
    figure.update_layout(
        title=f"Customer value by {dimension}",
        yaxis={"title": "CLV"},
        yaxis2={"overlaying": "y", "side": "right", "tickformat": ".0%", "range": [0, 1]},
        **LAYOUT,
    )
    return figure


def _unavailable(reading: str) -> Section:
    """The section when no model can be fitted: the reason, no chart, no table."""
    return Section("clv", TITLE, reading, [], [], [])


def _reading(frame: pd.DataFrame, currency: str | None, no_dropout: bool) -> str:
    """Two sentences: expected purchases and value ahead, then concentration and dropout."""
    total = float(frame["clv"].sum())
    ordered = np.sort(frame["clv"].to_numpy())[::-1]
    top = max(1, len(ordered) // 10)
    share = float(ordered[:top].sum() / total) if total > 0 else 0.0
    fading = int((frame["p_alive"] < 0.5).sum())
    if no_dropout:
        dropout = (
            "the purchases show no measurable dropout, so every account is expected to keep buying"
        )
    else:
        dropout = (
            f"{fading:,} accounts ({fading / len(frame):.0%}) are more likely gone than active"
        )
    return (
        f"Over the next {HORIZON_WEEKS} weeks the {len(frame):,} buying accounts are expected to "
        f"make {frame['expected_purchases'].sum():,.0f} purchases worth "
        f"{format_value(total, currency)} (discounted at {DISCOUNT_RATE:.0%} a year). "
        f"The top 10% of accounts hold {share:.0%} of that value, and {dropout}."
    )


def _no_dropout(fit: FitResult) -> bool:
    """True when the BG/NBD fit sits on the no-dropout boundary (mean dropout a/(a+b) ~ 0).

    Regular buyers who never leave (subscriptions) put the maximum there: a and b have no
    standard errors, but the predictions are the well-defined NBD limit (P(alive) = 1).
    """
    a, b = fit.params["a"], fit.params["b"]
    return a / (a + b) < NO_DROPOUT


def clv_section(ws: Workspace) -> Section:
    """CLV per account from BG/NBD and Gamma-Gamma: distribution, value by segment, top accounts."""
    tables = ws.tables()
    try:
        summary = workspace_summary(tables)
    except MissionlineError as exc:
        return _unavailable(f"No CLV model: {exc.message}.")
    repeat = int((summary["frequency"] > 0).sum())
    if repeat < MIN_REPEAT_BUYERS:
        return _unavailable(
            f"Only {repeat:,} of {len(summary):,} buying accounts bought more than once; "
            f"a CLV model needs at least {MIN_REPEAT_BUYERS} repeat buyers."
        )
    purchases, spend = fit_bgnbd(summary), fit_gamma_gamma(summary)
    no_dropout = not purchases.converged and _no_dropout(purchases)
    if not ((purchases.converged or no_dropout) and spend.converged and spend.params["q"] > 1):
        return _unavailable(
            "The CLV models did not converge on this data (too few purchases to separate the "
            "buying rate from dropout, or spend too skewed for a finite mean): no value shown."
        )
    predictions = predict(purchases, summary, HORIZON_WEEKS, spend, DISCOUNT_RATE)
    accounts = tables["accounts"].select("account_id", "name", "market", "segment").to_pandas()
    frame = predictions.rename(columns={"customer_id": "account_id"}).merge(
        accounts.astype({"account_id": str}), on="account_id", how="left"
    )
    currency = _currency(ws)
    charts = [
        figure_html(clv_histogram(frame["clv"], currency)),
        figure_html(value_by_chart(frame, "segment")),
    ]
    top = frame.sort_values("clv", ascending=False).head(TOP_ACCOUNTS)[COLUMNS]
    reading = _reading(frame, currency, no_dropout)
    return Section("clv", TITLE, reading, charts, COLUMNS, records(top))


def _currency(ws: Workspace) -> str | None:
    """The currency of the workspace's deals when there is exactly one, for labels."""
    opportunities = ws.tables()["opportunities"]
    found = opportunities.select("currency").distinct().limit(2).to_pandas()["currency"]
    values = [str(v) for v in found.dropna()]
    return values[0] if len(values) == 1 else None
