"""The revenue wave (``Workspace.wave()``) in vectorised pandas, for the demo plan.

The definitions of ``sql_wave``: ISO weeks from the first to the last with activity, spend
spread over each row's period, touches, distinct MQL entries, pipeline and bookings (kinds new
and expansion), the running count of open deals of reps with a capacity, capacity use, the
load index and the quarter-end flag.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from benchmarks.sql_plan import HANDOFF, WAVE_KINDS, WEEK_SECONDS

LOAD = ("marketing_spend", "marketing_touches", "mql_entries")


def _week(ts: pd.Series) -> pd.Series:
    """The Monday 00:00 of each timestamp's ISO week."""
    day = ts.dt.normalize()
    return day - pd.to_timedelta(day.dt.weekday, unit="D")


def _spend(spend: pd.DataFrame) -> pd.Series:
    """Marketing spend per week, each row spread evenly over the weeks its period overlaps."""
    rows = spend[spend["function"] == "marketing"]
    start = rows["period_start"].astype("int64").to_numpy() / 1e6  # epoch seconds
    end = rows["period_end"].astype("int64").to_numpy() / 1e6
    first = _week(rows["period_start"])
    first_s = first.astype("int64").to_numpy() / 1e6
    n = (np.floor((np.maximum(end - 1, start) - first_s) / WEEK_SECONDS) + 1).astype("int64")
    row = np.repeat(np.arange(len(rows)), n)  # one row per week overlapped
    offset = np.arange(n.sum()) - np.repeat(n.cumsum() - n, n)  # 0, 1, ... within each row
    week = first.to_numpy()[row] + pd.to_timedelta(offset * 7, unit="D").to_numpy()
    week_s = first_s[row] + offset * WEEK_SECONDS
    s, e = start[row], end[row]
    overlap = np.minimum(e, week_s + WEEK_SECONDS) - np.maximum(s, week_s)
    share = np.where(e > s, overlap / np.where(e > s, e - s, 1.0), 1.0)
    return pd.Series(rows["amount"].to_numpy()[row] * share).groupby(week).sum()


def wave_pandas(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The weekly wave, every series as ``Workspace.wave()`` gives it."""
    touches, events = tables["touches"], tables["stage_events"]
    opportunities, owners = tables["opportunities"], tables["owners"]
    marketing = touches.loc[touches["function"] == "marketing", "at"]
    mqls = events.loc[events["stage"] == HANDOFF, ["record_id", "entered_at"]]
    mqls = mqls.assign(week=_week(mqls["entered_at"]))[["record_id", "week"]].drop_duplicates()
    counted = opportunities[opportunities["kind"].fillna("new").isin(WAVE_KINDS)]
    won = counted[(counted["status"] == "won") & counted["closed_at"].notna()]
    held = opportunities[
        opportunities["owner_id"].isin(owners.loc[owners["capacity"] > 0, "owner_id"])
    ]
    opened = held[(held["status"] == "open") | held["closed_at"].notna()]
    closed = held[held["status"].isin(["won", "lost"]) & held["closed_at"].notna()]
    series = {
        "marketing_spend": _spend(tables["spend"]),
        "marketing_touches": marketing.groupby(_week(marketing)).size(),
        "mql_entries": mqls.groupby("week").size(),
        "pipeline_created": counted["amount"].groupby(_week(counted["created_at"])).sum(),
        "bookings": won["amount"].groupby(_week(won["closed_at"])).sum(),
        "won_deals": won.groupby(_week(won["closed_at"])).size(),
        "opened": opened.groupby(_week(opened["created_at"])).size(),
        "closed": closed.groupby(_week(closed[["created_at", "closed_at"]].max(axis=1))).size(),
    }
    seen = pd.concat([s.index.to_series() for s in series.values() if len(s)])
    axis = pd.date_range(seen.min(), seen.max(), freq="7D")
    out = pd.DataFrame({k: s.reindex(axis, fill_value=0) for k, s in series.items()})
    out["open_opportunities"] = (out["opened"] - out["closed"]).cumsum()
    capacity = owners.loc[owners["capacity"] > 0, "capacity"].sum()
    out["rep_capacity"] = capacity if capacity > 0 else np.nan
    out["capacity_use"] = out["open_opportunities"] / out["rep_capacity"]
    ratios = pd.concat(
        [out[c] / out[c].mean() if out[c].mean() > 0 else out[c] * np.nan for c in LOAD], axis=1
    )
    out["marketing_load"] = ratios.mean(axis=1, skipna=True).fillna(0.0)
    mondays = pd.DatetimeIndex(out.index)
    next_quarter = mondays.to_period("Q").end_time.normalize() + pd.Timedelta(days=1)
    out["quarter_end"] = (next_quarter - mondays) <= pd.Timedelta(days=14)
    out = out.drop(columns=["opened", "closed"]).rename_axis("week").reset_index()
    out["week"] = out["week"].dt.date
    return out
