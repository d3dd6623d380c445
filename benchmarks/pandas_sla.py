"""Hand-offs and their SLAs (``Workspace.sla()``) in vectorised pandas, for the demo plan.

The definitions of ``sql_sla``: every distinct entry into an SLA stage is a hand-off whose
window closes at the record's next entry into the stage; one timeline of answering, accepting
and exit events per SLA stage is merged with the hand-offs, and the first of each kind in the
window is kept.
"""

from __future__ import annotations

import pandas as pd

from benchmarks.sql_plan import PERSON_EXITS, SLAS, seconds


def _entries(tables: dict[str, pd.DataFrame], stages: tuple[str, ...]) -> pd.DataFrame:
    """``record_id, ts``: entries into ``stages`` by a person, or by the person's opportunity."""
    events = tables["stage_events"]
    rows = events.loc[events["stage"].isin(stages), ["record_id", "entered_at"]]
    if stages[0] == "opportunity":
        opportunities = tables["opportunities"][["opportunity_id", "person_id"]]
        rows = rows.merge(opportunities, left_on="record_id", right_on="opportunity_id")
        rows = rows.assign(record_id=rows["person_id"]).dropna(subset=["record_id"])
    return rows[["record_id", "entered_at"]].rename(columns={"entered_at": "ts"})


def _timeline(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """``stage, record_id, ts, kind``: what answers, accepts or ends each SLA stage's hand-offs."""
    touches = tables["touches"]
    sales = touches.loc[
        (touches["function"] == "sales") & touches["person_id"].notna(), ["person_id", "at"]
    ].rename(columns={"person_id": "record_id", "at": "ts"})
    exits = _entries(tables, tuple(PERSON_EXITS))
    parts = []
    for stage, (_, until, accept) in SLAS.items():
        answers = sales if until == "first_sales_touch" else _entries(tables, (until,))
        for kind, rows in (
            ("answer", answers),
            ("accept", _entries(tables, accept)),
            ("exit", exits),
        ):
            parts.append(rows.assign(stage=stage, kind=kind))
    return pd.concat(parts, ignore_index=True)


def sla_pandas(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Hand-offs, answers, share within SLA, response hours, acceptance and rejection per stage."""
    events = tables["stage_events"]
    handoffs = (
        events.loc[events["stage"].isin(SLAS), ["stage", "record_id", "entered_at"]]
        .drop_duplicates()
        .sort_values(["stage", "record_id", "entered_at"])
    )
    handoffs["next_at"] = handoffs.groupby(["stage", "record_id"])["entered_at"].shift(-1)
    keys = ["stage", "record_id", "entered_at"]
    joined = handoffs.merge(_timeline(tables), on=["stage", "record_id"])
    in_window = (joined["ts"] >= joined["entered_at"]) & (
        joined["next_at"].isna() | (joined["ts"] < joined["next_at"])
    )
    firsts = joined[in_window].groupby([*keys, "kind"])["ts"].min().unstack("kind")
    firsts = firsts.reindex(columns=["answer", "accept", "exit"])
    h = handoffs.merge(firsts.reset_index(), on=keys, how="left")
    waited = seconds(h["entered_at"], h["answer"])
    h["hours"] = waited / 3600.0
    h["within"] = waited <= h["stage"].map({s: round(v[0] * 3600) for s, v in SLAS.items()})
    h["rejected"] = h["exit"].notna() & (h["accept"].isna() | (h["accept"] > h["exit"]))
    grouped = h.groupby("stage")
    out = pd.DataFrame(
        {
            "sla_hours": pd.Series({s: v[0] for s, v in SLAS.items()}),
            "handed_over": grouped.size(),
            "answered": grouped["answer"].count(),
            "within_sla": grouped["within"].sum(),
            "median_hours": grouped["hours"].quantile(0.5),
            "p90_hours": grouped["hours"].quantile(0.9),
            "accepted": grouped["accept"].count(),
            "rejected": grouped["rejected"].sum(),
        }
    ).reindex(list(SLAS))
    out["share_within_sla"] = out["within_sla"] / out["handed_over"]
    out["acceptance_rate"] = out["accepted"] / out["handed_over"]
    out["rejection_rate"] = out["rejected"] / out["handed_over"]
    return out.rename_axis("stage").reset_index()
