"""The hand-written DuckDB SQL baselines of the metric suite, one per ``Workspace`` metric.

Each runs against the workspace's own DuckDB connection and returns the numbers the metric's
default call gives on the demo plan (``sql_plan`` holds the plan as the queries type it in; it is
checked before they run). The funnel's query is ``funnel_sql``'s, the one ``bench_funnel`` uses.
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb
import pandas as pd

from benchmarks.funnel_sql import run_sql as funnel_sql
from benchmarks.sql_inputs import inputs_sql
from benchmarks.sql_pipeline import pipeline_sql
from benchmarks.sql_plan import initiative_channels
from benchmarks.sql_sla import sla_sql
from benchmarks.sql_stays import leakage_sql, velocity_sql
from benchmarks.sql_verify import verify_sql
from benchmarks.sql_wave import wave_sql
from missionline.plan.models import Plan

SqlBaseline = Callable[[duckdb.DuckDBPyConnection, Plan], pd.DataFrame]

SQL: dict[str, SqlBaseline] = {
    "funnel": funnel_sql,
    "verify": lambda con, plan: verify_sql(con),
    "velocity": lambda con, plan: velocity_sql(con),
    "leakage": lambda con, plan: leakage_sql(con),
    "sla": lambda con, plan: sla_sql(con),
    "pipeline": lambda con, plan: pipeline_sql(con),
    "inputs": lambda con, plan: inputs_sql(con, initiative_channels(plan)),
    "wave": lambda con, plan: wave_sql(con),
}
