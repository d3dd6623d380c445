"""Reading the revenue wave: the lag of bookings behind MQLs, collisions, quarter-end crunches.

See :mod:`missionline.metrics.wave` for the weekly series and every definition.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from missionline.errors import MissionlineError
from missionline.metrics.wave import COLUMNS, SERIES, finish, week_keys

SMOOTH_WEEKS = 4  # a month: long enough to average lumpy deals, short enough to keep the peak
MIN_PAIRS = 8  # fewer pairs give no correlation
PEAK, QUIET = 0.75, 0.25  # quartiles for peaks and crunches, and for quiet weeks


def _group_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c not in COLUMNS]


def _company(frame: pd.DataFrame) -> pd.DataFrame:
    """Sum a grouped wave to one row per week (every series but the load index is additive)."""
    if not _group_columns(frame):
        return frame
    summed = frame.groupby("week", sort=True)[[*SERIES[:6], "open_opportunities"]].sum()
    summed = summed.reset_index().assign(week=lambda f: pd.to_datetime(f["week"]))
    capacity = frame["rep_capacity"].iloc[0] if len(frame) else np.nan
    return finish(summed, week_keys(summed, []), None if pd.isna(capacity) else capacity)[COLUMNS]


def _smoothed(series: pd.Series, window: int) -> np.ndarray:
    """Trailing ``window``-week sums (full windows only) minus their least-squares line."""
    values = series.astype("float64").rolling(window, min_periods=window).sum().dropna()
    y = values.to_numpy()
    if len(y) < 2:
        return y  # too short to correlate anyway
    t = np.arange(len(y), dtype="float64")
    slope, intercept = np.polyfit(t, y, 1)
    return np.asarray(y - (slope * t + intercept))


def wave_lag(
    frame: pd.DataFrame, max_lag_weeks: int = 26, smooth_weeks: int = SMOOTH_WEEKS
) -> pd.DataFrame:
    """Correlate MQL entries with bookings ``lag_weeks`` later, for each lag from 0 up."""
    if max_lag_weeks < 0 or smooth_weeks < 1:
        raise MissionlineError(
            "the maximum lag must be 0 or more weeks and the smoothing 1 or more"
        )
    # the axis's first and last weeks are usually partial (an extract starts and ends mid-week)
    weekly = _company(frame).sort_values("week").iloc[1:-1]
    x = _smoothed(weekly["mql_entries"], smooth_weeks)
    y = _smoothed(weekly["bookings"], smooth_weeks)
    rows = []
    for lag in range(max_lag_weeks + 1):
        a, b = x[: max(len(x) - lag, 0)], y[lag:]
        r = np.nan
        if len(a) >= MIN_PAIRS and a.std() > 0 and b.std() > 0:
            r = float(np.corrcoef(a, b)[0, 1])
        rows.append({"lag_weeks": lag, "correlation": r, "pairs": len(a)})
    return pd.DataFrame(rows, columns=["lag_weeks", "correlation", "pairs"])


def best_lag(lags: pd.DataFrame) -> int | None:
    """The lag with the highest positive correlation (the shortest on ties), or None."""
    positive = lags[lags["correlation"] > 0]
    if positive.empty:
        return None
    best = positive["correlation"].max()
    return int(positive.loc[positive["correlation"] == best, "lag_weeks"].min())


def _flags(rows: pd.DataFrame) -> pd.DataFrame:
    """Peak, crunch and quiet flags of one group's weeks (quartiles over its own weeks)."""
    load, bookings, use = rows["marketing_load"], rows["bookings"], rows["capacity_use"]
    peak = (load >= load.quantile(PEAK)) & (load > 0)
    by_bookings = (bookings >= bookings.quantile(PEAK)) & (bookings > 0)
    by_capacity = (use >= use.quantile(PEAK)) & (use > 0)
    # a group that never holds an open deal (spend without a segment, say) is not idle
    quiet = (load <= load.quantile(QUIET)) & (use <= use.quantile(QUIET)) & (use.max() > 0)
    crunch = np.select(
        [by_bookings & by_capacity, by_bookings, by_capacity],
        ["bookings+capacity", "bookings", "capacity"],
        default="",
    )
    kind = np.select([peak & (by_bookings | by_capacity), quiet], ["collision", "idle"], "")
    return rows.assign(kind=kind, crunch=crunch)


def collisions(frame: pd.DataFrame) -> pd.DataFrame:
    """Weeks where a campaign peak meets a closing crunch, and weeks idle on both sides."""
    group = _group_columns(frame)
    columns = ["week", "kind", "crunch", "marketing_load", "bookings", "capacity_use"]
    columns += ["quarter_end", *group]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    flagged = pd.concat([_flags(rows) for _, rows in frame.groupby(week_keys(frame, group))])
    out = flagged[flagged["kind"] != ""].sort_index()
    out = out.assign(crunch=out["crunch"].astype(object).where(out["crunch"] != "", None))
    return out[columns].reset_index(drop=True)


def quarter_crunches(frame: pd.DataFrame) -> pd.DataFrame:
    """Per complete calendar quarter (company-wide): quarter-end bookings and collisions."""
    weekly = _company(frame)
    columns = ["quarter", "bookings", "quarter_end_share", "won_deals"]
    columns += ["quarter_end_deal_share", "crunch", "collided"]
    if weekly.empty:
        return pd.DataFrame(columns=columns)
    flagged = _flags(weekly)
    quarters = pd.to_datetime(flagged["week"]).dt.to_period("Q")
    rows = []
    for quarter in sorted(quarters.unique()):
        q = flagged[quarters == quarter]
        if len(q) != len(pd.date_range(quarter.start_time, quarter.end_time, freq="W-MON")):
            continue  # the axis cuts the quarter: its share would mislead
        end = q[q["quarter_end"]]
        crunch = (end["crunch"] != "").any()
        rows.append(
            {
                "quarter": quarter.start_time.date(),
                "bookings": q["bookings"].sum(),
                "quarter_end_share": _share(end["bookings"].sum(), q["bookings"].sum()),
                "won_deals": int(q["won_deals"].sum()),
                "quarter_end_deal_share": _share(end["won_deals"].sum(), q["won_deals"].sum()),
                "crunch": bool(crunch),
                "collided": bool(crunch and (end["kind"] == "collision").any()),
            }
        )
    return pd.DataFrame(rows, columns=columns)


def _share(part: float, whole: float) -> float:
    return float(part / whole) if whole else np.nan
