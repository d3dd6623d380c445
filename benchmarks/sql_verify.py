"""Entry-rule conformance (``Workspace.verify()``) in hand-written DuckDB SQL, for the demo plan.

Each record's first entry into a stage is checked against the stage's rule, translated by hand
from the plan (``sql_plan.RULES``): a person's own columns, then its account's; a null in a rule
means "not met".
"""

from __future__ import annotations

import duckdb
import pandas as pd

from benchmarks.sql_plan import ACCOUNT_PATH, OPPORTUNITY_PATH, PATH, PERSON_PATH, SEGMENTS, quoted

SEGMENT_LIST = quoted(SEGMENTS)


VERIFY_SQL = f"""
WITH firsts AS (
    SELECT stage, record_id, min(entered_at) AS entered_at
    FROM stage_events WHERE stage IN ({quoted(PATH)})
    GROUP BY stage, record_id
), checked AS (
    SELECT f.stage, CASE f.stage
        WHEN 'radar' THEN p.account_id IS NOT NULL
        WHEN 'lead' THEN p.source_channel IS NOT NULL
        WHEN 'mql' THEN p.lead_score >= 60
        WHEN 'sal' THEN p.lead_score >= 60 AND a.employees >= 10
        WHEN 'sql' THEN p.account_id IS NOT NULL AND a.segment IN ({SEGMENT_LIST})
    END AS meets
    FROM firsts f
    LEFT JOIN people p ON p.person_id = f.record_id
    LEFT JOIN accounts a ON a.account_id = p.account_id
    WHERE f.stage IN ({quoted(PERSON_PATH)})
    UNION ALL
    SELECT f.stage, o.amount > 0 AND (f.stage = 'won' OR o.account_id IS NOT NULL)
    FROM firsts f LEFT JOIN opportunities o ON o.opportunity_id = f.record_id
    WHERE f.stage IN ({quoted(OPPORTUNITY_PATH)})
    UNION ALL
    SELECT f.stage, CASE f.stage
        WHEN 'expansion' THEN (epoch(f.entered_at) - epoch(a.created_at)) / 86400.0 >= 30
        ELSE a.segment IS NOT NULL
    END
    FROM firsts f LEFT JOIN accounts a ON a.account_id = f.record_id
    WHERE f.stage IN ({quoted(ACCOUNT_PATH)})
), stages(stage, position) AS (
    VALUES {", ".join(f"('{s}', {i})" for i, s in enumerate(PATH))}
)
SELECT s.stage, count(c.stage) AS entries, count(c.stage) FILTER (WHERE c.meets) AS conforming
FROM stages s LEFT JOIN checked c ON c.stage = s.stage
GROUP BY s.stage, s.position ORDER BY s.position
"""


def verify_sql(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Entries and conforming entries per stage."""
    return con.execute(VERIFY_SQL).df()
