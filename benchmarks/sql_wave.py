"""The revenue wave (``Workspace.wave()``) in hand-written DuckDB SQL, for the demo plan.

One row per ISO week from the first to the last week with activity: marketing spend spread
evenly over each spend row's period, marketing touches, distinct MQL entries, pipeline created
and bookings (kinds new and expansion, a missing kind counting as new), open deals of reps with
a capacity (a running sum of openings minus closes), capacity use, the load index (the mean of
each load series over its average week) and the quarter-end flag.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from benchmarks.sql_plan import HANDOFF, WAVE_KINDS, WEEK_SECONDS

KINDS = ", ".join(f"'{k}'" for k in WAVE_KINDS)

WAVE_SQL = f"""
WITH spend_rows AS (
    SELECT amount, epoch(period_start) AS s, epoch(period_end) AS e,
        date_trunc('week', period_start) AS first_week
    FROM spend WHERE function = 'marketing'
), spread AS (
    SELECT r.*, r.first_week + INTERVAL (7 * k) DAY AS week_start
    FROM spend_rows r, range(0, CAST(floor(
        (greatest(r.e - 1, r.s) - epoch(r.first_week)) / {WEEK_SECONDS}) + 1 AS BIGINT)) w(k)
), spent AS (
    SELECT CAST(week_start AS DATE) AS week, sum(amount * CASE WHEN e > s THEN
        (least(e, epoch(week_start) + {WEEK_SECONDS}) - greatest(s, epoch(week_start))) / (e - s)
        ELSE 1.0 END) AS marketing_spend
    FROM spread GROUP BY 1
), touched AS (
    SELECT CAST(date_trunc('week', "at") AS DATE) AS week, count(*) AS marketing_touches
    FROM touches WHERE function = 'marketing' GROUP BY 1
), mqls AS (
    SELECT week, count(*) AS mql_entries FROM (
        SELECT DISTINCT record_id, CAST(date_trunc('week', entered_at) AS DATE) AS week
        FROM stage_events WHERE stage = '{HANDOFF}'
    ) GROUP BY week
), counted AS (
    SELECT * FROM opportunities WHERE coalesce(kind, 'new') IN ({KINDS})
), created AS (
    SELECT CAST(date_trunc('week', created_at) AS DATE) AS week, sum(amount) AS pipeline_created
    FROM counted GROUP BY 1
), booked AS (
    SELECT CAST(date_trunc('week', closed_at) AS DATE) AS week, sum(amount) AS bookings,
        count(*) AS won_deals
    FROM counted WHERE status = 'won' AND closed_at IS NOT NULL GROUP BY 1
), held AS (
    SELECT o.* FROM opportunities o
    WHERE o.owner_id IN (SELECT owner_id FROM owners WHERE capacity > 0)
), opened AS (
    SELECT CAST(date_trunc('week', created_at) AS DATE) AS week, count(*) AS opened
    FROM held WHERE status = 'open' OR closed_at IS NOT NULL GROUP BY 1
), closed AS (
    SELECT CAST(date_trunc('week', greatest(created_at, closed_at)) AS DATE) AS week,
        count(*) AS closed
    FROM held WHERE status IN ('won', 'lost') AND closed_at IS NOT NULL GROUP BY 1
), weeks AS (
    SELECT week FROM spent UNION ALL SELECT week FROM touched UNION ALL SELECT week FROM mqls
    UNION ALL SELECT week FROM created UNION ALL SELECT week FROM booked
    UNION ALL SELECT week FROM opened UNION ALL SELECT week FROM closed
), axis AS (
    SELECT CAST(w AS DATE) AS week
    FROM (SELECT min(week) AS lo, max(week) AS hi FROM weeks),
        generate_series(lo, hi, INTERVAL 7 DAY) g(w)
), capacity AS (
    SELECT sum(capacity) FILTER (WHERE capacity > 0) AS rep_capacity FROM owners
), series AS (
    SELECT a.week, coalesce(marketing_spend, 0) AS marketing_spend,
        coalesce(marketing_touches, 0) AS marketing_touches,
        coalesce(mql_entries, 0) AS mql_entries,
        coalesce(pipeline_created, 0) AS pipeline_created, coalesce(bookings, 0) AS bookings,
        coalesce(won_deals, 0) AS won_deals,
        CAST(sum(coalesce(opened, 0) - coalesce(closed, 0)) OVER (ORDER BY a.week) AS BIGINT)
            AS open_opportunities
    FROM axis a
    LEFT JOIN spent USING (week) LEFT JOIN touched USING (week) LEFT JOIN mqls USING (week)
    LEFT JOIN created USING (week) LEFT JOIN booked USING (week)
    LEFT JOIN opened USING (week) LEFT JOIN closed USING (week)
), ratios AS (
    SELECT *,
        marketing_spend / nullif(avg(marketing_spend) OVER (), 0) AS r_spend,
        marketing_touches / nullif(avg(marketing_touches) OVER (), 0) AS r_touches,
        mql_entries / nullif(avg(mql_entries) OVER (), 0) AS r_mqls
    FROM series
)
SELECT week, marketing_spend, marketing_touches, mql_entries,
    coalesce((coalesce(r_spend, 0) + coalesce(r_touches, 0) + coalesce(r_mqls, 0)) / nullif(
        (r_spend IS NOT NULL)::INT + (r_touches IS NOT NULL)::INT + (r_mqls IS NOT NULL)::INT, 0
    ), 0) AS marketing_load,
    pipeline_created, bookings, won_deals, open_opportunities,
    nullif(c.rep_capacity, 0) AS rep_capacity,
    open_opportunities / nullif(c.rep_capacity, 0) AS capacity_use,
    CAST(date_trunc('quarter', week) + INTERVAL 3 MONTH AS DATE) - week <= 14 AS quarter_end
FROM ratios, capacity c ORDER BY week
"""


def wave_sql(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """The weekly wave, every series as ``Workspace.wave()`` gives it."""
    return con.execute(WAVE_SQL).df()
