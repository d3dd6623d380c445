"""Velocity and leakage (``Workspace.velocity()`` / ``leakage()``) in vectorised pandas.

The same definitions and plan as ``sql_stays``: a table of moves (which entries end a stay in
which stage) merged once with each stage's first and latest entries; the first forward move at
or after the entry ends the stay; a record no move followed since its latest entry is still in
the stage, and stalled when it has waited longer than the stage's p90 stay at the latest event.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from benchmarks.sql_plan import (
    OPPORTUNITY_EXITS,
    OPPORTUNITY_PATH,
    PERSON_EXITS,
    PIPELINE,
    RECYCLE_TO,
    SECONDS_PER_DAY,
    moves,
    seconds,
)

EXIT_KINDS = {**PERSON_EXITS, **OPPORTUNITY_EXITS}


def _moves(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Every move: ``from_stage, rid, ts, to_stage, prio, strict``."""
    events = tables["stage_events"][["record_id", "stage", "entered_at"]]
    opportunities = tables["opportunities"][["opportunity_id", "person_id"]].dropna()
    linked = events[events["stage"].isin(OPPORTUNITY_PATH)].merge(
        opportunities, left_on="record_id", right_on="opportunity_id"
    )
    tagged = pd.concat(
        [
            events.assign(rid=events["record_id"], via="self"),
            linked.assign(rid=linked["person_id"], via="person"),
        ]
    )[["rid", "stage", "entered_at", "via"]]
    table = pd.DataFrame(moves(), columns=["from_stage", "to_stage", "via", "prio", "strict"])
    found = tagged.merge(table, left_on=["stage", "via"], right_on=["to_stage", "via"])
    return found.rename(columns={"entered_at": "ts"}).drop(columns=["stage", "via"])


def _entries(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """First and latest entry per pipeline stage and record."""
    events = tables["stage_events"]
    return (
        events[events["stage"].isin(PIPELINE)]
        .groupby(["stage", "record_id"], as_index=False)
        .agg(entered_at=("entered_at", "min"), latest_at=("entered_at", "max"))
    )


def _stays(entries: pd.DataFrame, moved: pd.DataFrame, first_move: bool) -> pd.DataFrame:
    """Each entry with its first forward move at or after it (``next_at``; with ``first_move``
    also ``next_prio`` and ``next_stage``, ties to the main path, then by stage id), and
    ``still_in``: no move at or after the latest entry, no return to an earlier stage after it.
    """
    keys = ["stage", "record_id"]
    joined = entries.merge(moved, left_on=keys, right_on=["from_stage", "rid"])
    joined = joined[joined["ts"] >= joined["entered_at"]]
    strict, ts, latest = joined["strict"], joined["ts"], joined["latest_at"]
    left = joined[(~strict & (ts >= latest)) | (strict & (ts > latest))]
    forward = joined[~strict]
    if first_move:
        first = forward.sort_values(["ts", "prio", "to_stage"]).drop_duplicates(keys)
        first = first[[*keys, "ts", "prio", "to_stage"]].rename(
            columns={"ts": "next_at", "prio": "next_prio", "to_stage": "next_stage"}
        )
    else:
        first = forward.groupby(keys, as_index=False).agg(next_at=("ts", "min"))
    stays = entries.merge(first, on=keys, how="left")
    gone = left[keys].drop_duplicates().assign(gone=True)
    stays = stays.merge(gone, on=keys, how="left")
    stays["still_in"] = stays["gone"].isna()
    stays["days"] = seconds(stays["entered_at"], stays["next_at"]) / SECONDS_PER_DAY
    return stays


def _stalled(stays: pd.DataFrame, as_of: pd.Timestamp) -> pd.Series:
    """Records per stage still in it, waiting longer than the stage's p90 stay."""
    thresholds = stays.groupby("stage")["days"].quantile(0.9)
    waiting = seconds(stays["latest_at"], as_of) / SECONDS_PER_DAY
    stalled = stays["still_in"] & (waiting > stays["stage"].map(thresholds))
    return stalled.groupby(stays["stage"]).sum()


def _ordered(frame: pd.DataFrame) -> pd.DataFrame:
    order = {s: i for i, s in enumerate(PIPELINE)}
    return frame.sort_values("stage", key=lambda s: s.map(order)).reset_index(drop=True)


def velocity_pandas(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Time in stage (median, p90, mean over completed stays) and stalled records per stage."""
    stays = _stays(_entries(tables), _moves(tables), first_move=False)
    days = stays.groupby("stage")["days"]
    out = pd.DataFrame(
        {
            "records": stays.groupby("stage").size(),
            "exited": stays.groupby("stage")["next_at"].count(),
            "median_days": days.quantile(0.5),
            "p90_days": days.quantile(0.9),
            "mean_days": days.mean(),
        }
    )
    out["stalled"] = _stalled(stays, tables["stage_events"]["entered_at"].max())
    out["threshold_days"] = out["p90_days"]
    return _ordered(out.rename_axis("stage").reset_index())


def leakage_pandas(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Where each stage's entries went (advanced, each exit, open), stalled and re-entries."""
    stays = _stays(_entries(tables), _moves(tables), first_move=True)
    stays["advanced"] = stays["next_prio"] == 0
    leaked = stays["next_prio"] == 1
    for stage, kind in EXIT_KINDS.items():
        stays[kind] = leaked & (stays["next_stage"] == stage)
    events = tables["stage_events"]
    returns = events.loc[events["stage"] == RECYCLE_TO, ["record_id", "entered_at"]]
    recycled = stays.loc[stays["recycled"], ["stage", "record_id", "next_at"]]
    back = recycled.merge(returns, on="record_id")
    back = back[back["entered_at"] > back["next_at"]]
    back = back.groupby(["stage", "record_id", "next_at"], as_index=False).agg(
        entered_at=("entered_at", "min")
    )
    back["back_days"] = seconds(back["next_at"], back["entered_at"]) / SECONDS_PER_DAY
    grouped = stays.groupby("stage")
    out = pd.DataFrame(
        {
            "records": grouped.size(),
            **{k: grouped[k].sum() for k in ("advanced", *EXIT_KINDS.values())},
        }
    )
    leaks = out[list(EXIT_KINDS.values())].sum(axis=1)
    out["open"] = out["records"] - out["advanced"] - leaks
    out["leakage_rate"] = leaks / out["records"]
    out["stalled"] = _stalled(stays, events["entered_at"].max())
    reentry = back.groupby("stage")["back_days"]
    out["reentered"] = reentry.size()
    out["reentry_median_days"] = reentry.quantile(0.5)
    out["reentry_p90_days"] = reentry.quantile(0.9)
    for column in ("stalled", "reentered"):
        out[column] = out[column].fillna(0).astype(np.int64)
    out["reentry_rate"] = out["reentered"] / out["recycled"].where(out["recycled"] > 0)
    return _ordered(out.rename_axis("stage").reset_index())
