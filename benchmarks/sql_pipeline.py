"""The pipeline (``Workspace.pipeline()``) in hand-written DuckDB SQL, for the demo plan.

Everything is measured at the midnight after the latest opportunity creation, close or stage
entry. Stage probabilities are the share won of the closed deals that entered each opportunity
stage; an open deal is weighted by the probability of its latest stage (tie: the later stage).
Coverage is the open new-business pipeline over what is left of this quarter's target.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from benchmarks.sql_plan import BOOKINGS_TARGET, OPPORTUNITY_PATH, seconds_sql

STAGES = ", ".join(f"('{s}', {i})" for i, s in enumerate(OPPORTUNITY_PATH))

PIPELINE_SQL = f"""
WITH as_of AS (
    SELECT date_trunc('day', greatest(
        (SELECT max(created_at) FROM opportunities),
        (SELECT max(closed_at) FROM opportunities WHERE status IN ('won', 'lost')),
        (SELECT max(entered_at) FROM stage_events)
    )) + INTERVAL 1 DAY AS ts
), deals AS (
    SELECT o.* FROM opportunities o WHERE o.created_at < (SELECT ts FROM as_of)
), closed AS (
    SELECT *, {seconds_sql("created_at", "closed_at")} / 86400.0 AS cycle_days FROM deals
    WHERE status IN ('won', 'lost') AND closed_at < (SELECT ts FROM as_of)
), open_deals AS (
    SELECT * FROM deals
    WHERE status = 'open' OR closed_at >= (SELECT ts FROM as_of)
), stages(stage, position) AS (VALUES {STAGES}
), entered AS (
    SELECT DISTINCT e.record_id, e.stage FROM stage_events e
    WHERE e.record_type = 'opportunity' AND e.stage IN (SELECT stage FROM stages)
        AND e.entered_at < (SELECT ts FROM as_of)
), probabilities AS (
    SELECT e.stage, avg(CASE WHEN c.status = 'won' THEN 1 ELSE 0 END) AS probability
    FROM entered e JOIN closed c ON c.opportunity_id = e.record_id GROUP BY e.stage
), current_stage AS (
    SELECT o.opportunity_id, arg_max(e.stage, row(e.entered_at, s.position)) AS stage
    FROM open_deals o
    JOIN stage_events e ON e.record_id = o.opportunity_id
    JOIN stages s ON s.stage = e.stage
    WHERE e.entered_at < (SELECT ts FROM as_of)
    GROUP BY o.opportunity_id
), won_stats AS (
    SELECT count(*) FILTER (WHERE status = 'won') AS won,
        count(*) FILTER (WHERE status = 'lost') AS lost,
        avg(amount) FILTER (WHERE status = 'won') AS average_deal_size,
        quantile_cont(amount, 0.5) FILTER (WHERE status = 'won') AS median_deal_size,
        quantile_cont(cycle_days, 0.5) FILTER (WHERE status = 'won') AS median_cycle_days,
        avg(cycle_days) FILTER (WHERE status = 'won') AS average_cycle_days
    FROM closed
), open_stats AS (
    SELECT count(*) AS open_count, coalesce(sum(o.amount), 0) AS open_amount,
        coalesce(sum(o.amount * coalesce(p.probability, 0)), 0) AS weighted_pipeline,
        coalesce(sum(o.amount) FILTER (WHERE o.kind = 'new'), 0) AS target_open
    FROM open_deals o
    LEFT JOIN current_stage c ON c.opportunity_id = o.opportunity_id
    LEFT JOIN probabilities p ON p.stage = coalesce(c.stage, '{OPPORTUNITY_PATH[0]}')
), remaining AS (
    SELECT {BOOKINGS_TARGET} - coalesce(sum(amount), 0) AS left_to_book FROM opportunities
    WHERE status = 'won' AND kind = 'new'
        AND closed_at >= date_trunc('quarter', (SELECT ts FROM as_of))
        AND closed_at < (SELECT ts FROM as_of)
)
SELECT w.*, o.open_count, o.open_amount, o.weighted_pipeline,
    w.won / nullif(w.won + w.lost, 0) AS win_rate,
    o.open_count * (w.won / nullif(w.won + w.lost, 0)) * w.average_deal_size
        / CASE WHEN w.average_cycle_days > 0 THEN w.average_cycle_days END
        AS pipeline_velocity_per_day,
    CASE WHEN r.left_to_book > 0 THEN o.target_open / r.left_to_book END AS coverage
FROM won_stats w, open_stats o, remaining r
"""


def pipeline_sql(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Win rate, deal size, cycle, open and weighted pipeline, velocity and coverage."""
    return con.execute(PIPELINE_SQL).df()
