"""Inputs against outputs (``Workspace.inputs()``, by channel) in hand-written DuckDB SQL.

Written for the demo plan: entries are distinct records per main-path stage, in the channel of
their person (an opportunity's through its ``person_id``; account stages have none). Spend is in
its own channel, else its initiative's channel from the plan; touches in their person's channel.
The null channel is a group of its own, without per-entry ratios.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from benchmarks.sql_plan import OPPORTUNITY_PATH, PATH, PERSON_PATH, quoted


def inputs_query(initiative_channels: dict[str, str]) -> str:
    """The query, with the plan's initiative channels typed in as a VALUES list."""
    channels = ", ".join(f"('{i}', '{c}')" for i, c in initiative_channels.items())
    stages = ", ".join(f"('{s}', {i})" for i, s in enumerate(PATH))
    return f"""
WITH initiative_channel(initiative_id, channel) AS (VALUES {channels}),
stages(stage, position) AS (VALUES {stages}),
spent AS (
    SELECT coalesce(s.channel, i.channel) AS channel, sum(s.amount) AS spend
    FROM spend s LEFT JOIN initiative_channel i ON i.initiative_id = s.initiative_id
    GROUP BY 1
), touched AS (
    SELECT p.source_channel AS channel,
        count(*) FILTER (WHERE t.function = 'marketing') AS touches,
        count(*) FILTER (WHERE t.function = 'sales') AS sales_activities
    FROM touches t LEFT JOIN people p ON p.person_id = t.person_id
    GROUP BY 1
), entries AS (
    SELECT DISTINCT stage, record_id FROM stage_events WHERE stage IN ({quoted(PATH)})
), entered AS (
    SELECT e.stage, p.source_channel AS channel, count(*) AS entries
    FROM entries e
    LEFT JOIN opportunities o ON o.opportunity_id = e.record_id
    LEFT JOIN people p ON p.person_id = CASE
        WHEN e.stage IN ({quoted(PERSON_PATH)}) THEN e.record_id
        WHEN e.stage IN ({quoted(OPPORTUNITY_PATH)}) THEN o.person_id
    END
    GROUP BY 1, 2
), channels AS (
    SELECT channel FROM spent UNION SELECT channel FROM touched UNION SELECT channel FROM entered
)
SELECT c.channel, s.stage, coalesce(e.entries, 0) AS entries, coalesce(sp.spend, 0) AS spend,
    coalesce(t.touches, 0) AS touches, coalesce(t.sales_activities, 0) AS sales_activities,
    CASE WHEN c.channel IS NOT NULL AND e.entries > 0 THEN coalesce(sp.spend, 0) / e.entries END
        AS cost_per_entry,
    CASE WHEN c.channel IS NOT NULL AND e.entries > 0 THEN coalesce(t.touches, 0) / e.entries END
        AS touches_per_entry,
    CASE WHEN c.channel IS NOT NULL AND e.entries > 0
        THEN coalesce(t.sales_activities, 0) / e.entries END AS sales_activities_per_entry
FROM channels c CROSS JOIN stages s
LEFT JOIN entered e ON e.channel IS NOT DISTINCT FROM c.channel AND e.stage = s.stage
LEFT JOIN spent sp ON sp.channel IS NOT DISTINCT FROM c.channel
LEFT JOIN touched t ON t.channel IS NOT DISTINCT FROM c.channel
ORDER BY c.channel NULLS LAST, s.position
"""


def inputs_sql(con: duckdb.DuckDBPyConnection, initiative_channels: dict[str, str]) -> pd.DataFrame:
    """Entries, spend, touches and sales activities per channel and stage, with the ratios."""
    return con.execute(inputs_query(initiative_channels)).df()
