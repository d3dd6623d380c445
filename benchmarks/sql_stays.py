"""Velocity and leakage (``Workspace.velocity()`` / ``leakage()``) in hand-written DuckDB SQL.

Written for the demo plan (``sql_plan``): a table of moves says which stage entries end a stay
in each pipeline stage (a later stage of the path up to won, an exit of the record's type, the
person's opportunity entering opportunity or won; and, only to decide who is still in a stage,
a strictly later return to an earlier stage). A stay runs from the record's first entry into
the stage to the first move at or after it; a record is stalled when its latest entry is
followed by no move and it has waited longer than the stage's p90 stay at the latest event.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from benchmarks.sql_plan import (
    OPPORTUNITY_EXITS,
    OPPORTUNITY_PATH,
    PERSON_EXITS,
    PIPELINE,
    RECYCLE_TO,
    moves,
    quoted,
    seconds_sql,
)

MOVES = ", ".join(f"('{a}', '{b}', '{v}', {p}, {s})" for a, b, v, p, s in moves())


def _stays(first_move: str) -> str:
    """The CTEs both queries share: first and latest entries, the moves, and one join of each
    entry with the moves at or after it, giving the stay (up to the first forward move) and
    whether the record is still in the stage (no move at or after its latest entry, no return
    to an earlier stage after it)."""
    return f"""
moves_map(from_stage, to_stage, via, prio, strict) AS (VALUES {MOVES}),
entries AS (
    SELECT stage, record_id, min(entered_at) AS entered_at, max(entered_at) AS latest_at
    FROM stage_events WHERE stage IN ({quoted(PIPELINE)}) GROUP BY stage, record_id
), tagged AS (
    SELECT record_id AS rid, stage, entered_at, 'self' AS via FROM stage_events
    UNION ALL
    SELECT o.person_id, e.stage, e.entered_at, 'person'
    FROM stage_events e JOIN opportunities o ON o.opportunity_id = e.record_id
    WHERE e.stage IN ({quoted(OPPORTUNITY_PATH)})
), moves AS (
    SELECT m.from_stage, t.rid, t.entered_at AS ts, t.stage AS to_stage, m.prio, m.strict
    FROM tagged t JOIN moves_map m ON m.to_stage = t.stage AND m.via = t.via
), stays AS (
    SELECT e.stage, e.record_id, e.entered_at, e.latest_at,
        min(m.ts) FILTER (WHERE NOT m.strict) AS next_at, {first_move}
        NOT coalesce(bool_or(
            (NOT m.strict AND m.ts >= e.latest_at) OR (m.strict AND m.ts > e.latest_at)
        ), false) AS still_in
    FROM entries e LEFT JOIN moves m
        ON m.from_stage = e.stage AND m.rid = e.record_id AND m.ts >= e.entered_at
    GROUP BY e.stage, e.record_id, e.entered_at, e.latest_at
), as_of AS (SELECT max(entered_at) AS ts FROM stage_events)"""


def _stalled(thresholds: str) -> str:
    """The stalled CTE: records still in the stage, waiting longer than its p90 stay."""
    return f"""stalled AS (
    SELECT s.stage, count(*) AS stalled
    FROM stays s JOIN {thresholds} t ON t.stage = s.stage
    WHERE s.still_in AND {seconds_sql("s.latest_at", "(SELECT ts FROM as_of)")} / 86400.0
        > t.p90_days
    GROUP BY s.stage
)"""


STAY_DAYS = f"{seconds_sql('entered_at', 'next_at')} / 86400.0"
RETURN_DAYS = f"{seconds_sql('next_at', 'r.back_at')} / 86400.0"


def _exit_counts() -> str:
    """One count per exit kind: entries whose first move is into that exit."""
    return ", ".join(
        f"count(*) FILTER (WHERE next_prio = 1 AND next_stage = '{stage}') AS {kind}"
        for stage, kind in {**PERSON_EXITS, **OPPORTUNITY_EXITS}.items()
    )


VELOCITY_SQL = f"""
WITH {_stays("")}, stats AS (
    SELECT stage, count(*) AS records, count(next_at) AS exited,
        quantile_cont({STAY_DAYS}, 0.5) AS median_days,
        quantile_cont({STAY_DAYS}, 0.9) AS p90_days,
        avg({STAY_DAYS}) AS mean_days
    FROM stays GROUP BY stage
), {_stalled("stats")}
SELECT s.*, coalesce(st.stalled, 0) AS stalled, s.p90_days AS threshold_days
FROM stats s LEFT JOIN stalled st ON st.stage = s.stage
"""

# The first forward move, ties broken as missionline does: the main path before an exit, then
# exits by stage id.
FIRST_MOVE = """
        arg_min(m.prio, row(m.ts, m.prio, m.to_stage)) FILTER (WHERE NOT m.strict) AS next_prio,
        arg_min(m.to_stage, row(m.ts, m.prio, m.to_stage)) FILTER (WHERE NOT m.strict)
            AS next_stage,"""

LEAKAGE_SQL = f"""
WITH {_stays(FIRST_MOVE)}, thresholds AS (
    SELECT stage, quantile_cont({STAY_DAYS}, 0.9) AS p90_days FROM stays GROUP BY stage
), {_stalled("thresholds")}, returns AS (
    SELECT s.stage, s.record_id, min(r.entered_at) AS back_at
    FROM stays s JOIN stage_events r
        ON r.record_id = s.record_id AND r.stage = '{RECYCLE_TO}' AND r.entered_at > s.next_at
    WHERE s.next_stage = 'recycled' AND s.next_prio = 1
    GROUP BY s.stage, s.record_id
), counts AS (
    SELECT s.stage, count(*) AS records,
        count(*) FILTER (WHERE next_prio = 0) AS advanced, {_exit_counts()},
        count(r.back_at) AS reentered,
        quantile_cont({RETURN_DAYS}, 0.5) AS reentry_median_days,
        quantile_cont({RETURN_DAYS}, 0.9) AS reentry_p90_days
    FROM stays s LEFT JOIN returns r ON r.stage = s.stage AND r.record_id = s.record_id
    GROUP BY s.stage
)
SELECT c.stage, c.records, c.advanced, c.disqualified, c.lost, c.recycled,
    c.records - c.advanced - c.disqualified - c.lost - c.recycled AS open,
    (c.disqualified + c.lost + c.recycled) / c.records AS leakage_rate,
    coalesce(st.stalled, 0) AS stalled, c.reentered, c.reentered / nullif(c.recycled, 0)
        AS reentry_rate, c.reentry_median_days, c.reentry_p90_days
FROM counts c LEFT JOIN stalled st ON st.stage = c.stage
"""

ORDER = {s: i for i, s in enumerate(PIPELINE)}


def _ordered(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values("stage", key=lambda s: s.map(ORDER)).reset_index(drop=True)


def velocity_sql(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Time in stage (median, p90, mean over completed stays) and stalled records per stage."""
    return _ordered(con.execute(VELOCITY_SQL).df())


def leakage_sql(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Where each stage's entries went (advanced, each exit, open), stalled and re-entries."""
    return _ordered(con.execute(LEAKAGE_SQL).df())
