"""The funnel's numbers written by hand: one DuckDB SQL query, and one pandas implementation.

These are the baselines the benchmark compares missionline with; they compute the cohort
funnel of the whole company (entries, converted, median and p90 days to the next stage).
"""

from __future__ import annotations

import itertools

import duckdb
import numpy as np
import pandas as pd

from missionline.plan.models import Plan

LINKS = {
    ("person", "opportunity"): ("person_id", "opportunity_id"),
    ("opportunity", "account"): ("opportunity_id", "account_id"),
    ("person", "account"): None,  # through people.account_id
}


def _pair_sql(i: int, stage: str, stype: str, nxt: str, ntype: str) -> str:
    if stype == ntype:
        target, join = "f.record_id", ""
    elif (stype, ntype) == ("person", "account"):
        target, join = "l.account_id", "LEFT JOIN people l ON l.person_id = f.record_id"
    else:
        src, dst = LINKS[stype, ntype]  # type: ignore[misc]
        target = f"l.{dst}"
        join = f"LEFT JOIN opportunities l ON l.{src} = f.record_id"
    return f"""
        SELECT {i} AS step, f.record_id, f.entered_at, min(e.entered_at) AS reached_at
        FROM first_entries f {join}
        LEFT JOIN stage_events e
          ON e.stage = '{nxt}' AND e.record_id = {target} AND e.entered_at >= f.entered_at
        WHERE f.stage = '{stage}'
        GROUP BY f.record_id, f.entered_at"""


def funnel_sql(plan: Plan) -> str:
    """The hand-written query for the plan's main path."""
    path = plan.lifecycle.path()
    stages = ", ".join(f"'{s.id}'" for s in path)
    pairs = [
        _pair_sql(i, s.id, s.record_type, n.id, n.record_type)
        for i, (s, n) in enumerate(itertools.pairwise(path))
    ]
    last = len(path) - 1
    pairs.append(f"""
        SELECT {last} AS step, record_id, entered_at, NULL::TIMESTAMP AS reached_at
        FROM first_entries WHERE stage = '{path[-1].id}'""")
    return f"""
    WITH first_entries AS (
        SELECT record_id, stage, min(entered_at) AS entered_at
        FROM stage_events WHERE stage IN ({stages}) GROUP BY record_id, stage
    ), reached AS ({" UNION ALL ".join(pairs)})
    SELECT step, count(*) AS entries, count(reached_at) AS converted,
        quantile_cont(epoch(reached_at) - epoch(entered_at), 0.5) / 86400 AS median_days,
        quantile_cont(epoch(reached_at) - epoch(entered_at), 0.9) / 86400 AS p90_days
    FROM reached GROUP BY step ORDER BY step"""


def run_sql(con: duckdb.DuckDBPyConnection, plan: Plan) -> pd.DataFrame:
    """Run the hand-written query."""
    return con.execute(funnel_sql(plan)).df()


def run_pandas(tables: dict[str, pd.DataFrame], plan: Plan) -> pd.DataFrame:
    """The same numbers with vectorised pandas (merges and group-bys)."""
    events = tables["stage_events"]
    path = plan.lifecycle.path()
    first = (
        events[events["stage"].isin([s.id for s in path])]
        .groupby(["record_id", "stage"], as_index=False)["entered_at"]
        .min()
    )
    opps, people = tables["opportunities"], tables["people"]
    rows = []
    for i, stage in enumerate(path):
        f = first[first["stage"] == stage.id][["record_id", "entered_at"]]
        if i + 1 == len(path):
            rows.append((i, len(f), 0, np.nan, np.nan))
            continue
        nxt = path[i + 1]
        if nxt.record_type == stage.record_type:
            f = f.assign(target=f["record_id"])
        elif (stage.record_type, nxt.record_type) == ("person", "account"):
            f = f.merge(
                people[["person_id", "account_id"]].rename(
                    columns={"person_id": "record_id", "account_id": "target"}
                ),
                on="record_id",
                how="left",
            )
        else:
            src, dst = LINKS[stage.record_type, nxt.record_type]  # type: ignore[misc]
            link = opps[[src, dst]].dropna().rename(columns={src: "record_id", dst: "target"})
            f = f.merge(link, on="record_id", how="left")
        e = events[events["stage"] == nxt.id][["record_id", "entered_at"]].rename(
            columns={"record_id": "target", "entered_at": "reached_at"}
        )
        j = f.merge(e, on="target", how="left")
        j = j[j["reached_at"].isna() | (j["reached_at"] >= j["entered_at"])]
        reached = j.groupby(["record_id", "entered_at"])["reached_at"].min()
        reached = (
            f.drop_duplicates(["record_id", "entered_at"])
            .set_index(["record_id", "entered_at"])
            .join(reached.rename("r"))["r"]
        )
        delta = reached.dropna() - reached.dropna().index.get_level_values("entered_at")
        days = delta.dt.total_seconds() / 86400
        rows.append(
            (
                i,
                len(reached),
                int(reached.notna().sum()),
                float(days.quantile(0.5)) if len(days) else np.nan,
                float(days.quantile(0.9)) if len(days) else np.nan,
            )
        )
    return pd.DataFrame(rows, columns=["step", "entries", "converted", "median_days", "p90_days"])
