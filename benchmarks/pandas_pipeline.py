"""The pipeline (``Workspace.pipeline()``) in vectorised pandas, for the demo plan.

The definitions of ``sql_pipeline``: measured at the midnight after the end of the data; stage
probabilities from closed deals; open deals weighted by their latest stage's probability;
coverage of what is left of this quarter's new-business target.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from benchmarks.sql_plan import BOOKINGS_TARGET, OPPORTUNITY_PATH, SECONDS_PER_DAY, seconds


def pipeline_pandas(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Win rate, deal size, cycle, open and weighted pipeline, velocity and coverage."""
    opportunities, events = tables["opportunities"], tables["stage_events"]
    decided = opportunities["status"].isin(["won", "lost"])
    latest = max(
        opportunities["created_at"].max(),
        opportunities.loc[decided, "closed_at"].max(),
        events["entered_at"].max(),
    )
    as_of = latest.normalize() + pd.Timedelta(days=1)
    deals = opportunities[opportunities["created_at"] < as_of]
    closed = deals[deals["status"].isin(["won", "lost"]) & (deals["closed_at"] < as_of)]
    won = closed[closed["status"] == "won"]
    cycle = seconds(won["created_at"], won["closed_at"]) / SECONDS_PER_DAY
    open_deals = deals[(deals["status"] == "open") | (deals["closed_at"] >= as_of)]

    stage_rows = events[
        (events["record_type"] == "opportunity")
        & events["stage"].isin(OPPORTUNITY_PATH)
        & (events["entered_at"] < as_of)
    ]
    entered = stage_rows[["record_id", "stage"]].drop_duplicates()
    outcome = closed[["opportunity_id", "status"]]
    entered = entered.merge(outcome, left_on="record_id", right_on="opportunity_id")
    probability = (entered["status"] == "won").groupby(entered["stage"]).mean()

    order = {s: i for i, s in enumerate(OPPORTUNITY_PATH)}
    current = stage_rows[stage_rows["record_id"].isin(open_deals["opportunity_id"])]
    current = current.assign(position=current["stage"].map(order))
    current = current.sort_values(["entered_at", "position"]).drop_duplicates(
        "record_id", keep="last"
    )
    stage = open_deals["opportunity_id"].map(current.set_index("record_id")["stage"])
    weight = stage.fillna(OPPORTUNITY_PATH[0]).map(probability).fillna(0.0)

    quarter = as_of.to_period("Q").start_time
    booked = opportunities[
        (opportunities["status"] == "won")
        & (opportunities["kind"] == "new")
        & (opportunities["closed_at"] >= quarter)
        & (opportunities["closed_at"] < as_of)
    ]["amount"].sum()
    remaining = BOOKINGS_TARGET - booked

    win_rate = len(won) / (len(closed) or np.nan)
    average_deal = won["amount"].mean()
    average_cycle = cycle.mean()
    open_count = len(open_deals)
    row = {
        "won": len(won),
        "lost": len(closed) - len(won),
        "average_deal_size": average_deal,
        "median_deal_size": won["amount"].median(),
        "median_cycle_days": cycle.median(),
        "average_cycle_days": average_cycle,
        "open_count": open_count,
        "open_amount": open_deals["amount"].sum(),
        "weighted_pipeline": (open_deals["amount"] * weight).sum(),
        "win_rate": win_rate,
        "pipeline_velocity_per_day": (
            open_count * win_rate * average_deal / average_cycle if average_cycle > 0 else np.nan
        ),
        "coverage": (
            open_deals.loc[open_deals["kind"] == "new", "amount"].sum() / remaining
            if remaining > 0
            else np.nan
        ),
    }
    return pd.DataFrame([row])
