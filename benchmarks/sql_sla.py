"""Hand-offs and their SLAs (``Workspace.sla()``) in hand-written DuckDB SQL, for the demo plan.

Every entry into an SLA stage is a hand-off, answered within its window (until the record's
next entry into the stage) by the first sales touch (mql), sql entry (sal) or entry of the
person's opportunity (sql). One timeline holds, per SLA stage, the events that answer, accept or
end a hand-off; one join finds each hand-off's first of each. In the demo plan every exit of a
person (disqualified, recycled) is a rejection, so the first exit's time decides a rejection.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from benchmarks.sql_plan import PERSON_EXITS, SLAS, quoted, seconds_sql

RESPONSE = seconds_sql("entered_at", "responded_at")


def _events(stage: str, stages: tuple[str, ...], kind: str) -> str:
    """Timeline rows: entries into ``stages`` by the person or by the person's opportunity."""
    if stages[0] == "opportunity":
        return f"""
        SELECT '{stage}', o.person_id, e.entered_at, '{kind}'
        FROM stage_events e JOIN opportunities o ON o.opportunity_id = e.record_id
        WHERE e.stage IN ({quoted(stages)})"""
    return f"""
        SELECT '{stage}', record_id, entered_at, '{kind}' FROM stage_events
        WHERE stage IN ({quoted(stages)})"""


def _timeline() -> str:
    parts = []
    for stage, (_, until, accept) in SLAS.items():
        if until == "first_sales_touch":
            parts.append(f"""
        SELECT '{stage}', person_id, "at", 'answer' FROM touches
        WHERE function = 'sales' AND person_id IS NOT NULL""")
        else:
            parts.append(_events(stage, (until,), "answer"))
        parts.append(_events(stage, accept, "accept"))
        parts.append(_events(stage, tuple(PERSON_EXITS), "exit"))
    return " UNION ALL ".join(parts)


SLA_SQL = f"""
WITH handoffs AS (
    SELECT stage, record_id, entered_at,
        -- the window closes at the next hand-off of the record (never, for the last one)
        lead(entered_at, 1, 'infinity') OVER (PARTITION BY stage, record_id ORDER BY entered_at)
            AS next_at
    FROM (SELECT DISTINCT stage, record_id, entered_at FROM stage_events
          WHERE stage IN ({quoted(SLAS)}))
), timeline(stage, record_id, ts, kind) AS ({_timeline()}
), answered AS (
    SELECT h.stage, h.record_id, h.entered_at,
        min(t.ts) FILTER (WHERE t.kind = 'answer') AS responded_at,
        min(t.ts) FILTER (WHERE t.kind = 'accept') AS accepted_at,
        min(t.ts) FILTER (WHERE t.kind = 'exit') AS exit_at
    FROM handoffs h LEFT JOIN timeline t
        ON t.stage = h.stage AND t.record_id = h.record_id AND t.ts >= h.entered_at
        AND t.ts < h.next_at
    GROUP BY h.stage, h.record_id, h.entered_at
), limits(stage, sla_hours, position) AS (
    VALUES {", ".join(f"('{s}', {h}, {i})" for i, (s, (h, _, _)) in enumerate(SLAS.items()))}
), counted AS (
    SELECT a.stage, l.sla_hours, l.position, count(*) AS handed_over,
        count(responded_at) AS answered,
        count(*) FILTER (
            WHERE {RESPONSE} <= round(l.sla_hours * 3600)
        ) AS within_sla,
        quantile_cont({RESPONSE} / 3600.0, 0.5) AS median_hours,
        quantile_cont({RESPONSE} / 3600.0, 0.9) AS p90_hours,
        count(accepted_at) AS accepted,
        count(*) FILTER (
            WHERE exit_at IS NOT NULL AND (accepted_at IS NULL OR accepted_at > exit_at)
        ) AS rejected
    FROM answered a JOIN limits l ON l.stage = a.stage
    GROUP BY a.stage, l.sla_hours, l.position
)
SELECT *, within_sla / handed_over AS share_within_sla, accepted / handed_over AS acceptance_rate,
    rejected / handed_over AS rejection_rate
FROM counted ORDER BY position
"""


def sla_sql(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Hand-offs, answers, share within SLA, response hours, acceptance and rejection per stage."""
    return con.execute(SLA_SQL).df()
