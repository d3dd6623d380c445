"""Funnel benchmark: missionline vs hand-written DuckDB SQL vs pandas on one company.

Targets (issue #3): missionline <= 1.2x the SQL query, >= 10x faster than pandas, peak RSS
<= 2 GB. The three must agree on every number.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.common import best_of, peak_rss_mb
from benchmarks.funnel_sql import run_pandas, run_sql
from benchmarks.prepare import ensure
from missionline.workspace import Workspace


def compare(engine: pd.DataFrame, sql: pd.DataFrame, pandas: pd.DataFrame) -> None:
    """Fail loudly if the three implementations disagree."""
    for other in (sql, pandas):
        assert engine["entries"].tolist() == other["entries"].tolist()
        converted = (engine["conversion_to_next"].fillna(0) * engine["entries"]).round().tolist()
        assert converted == other["converted"].astype(float).tolist()
        for mine, theirs in (
            ("median_days_to_next", "median_days"),
            ("p90_days_to_next", "p90_days"),
        ):
            np.testing.assert_allclose(
                engine[mine].to_numpy(dtype=float), other[theirs].to_numpy(dtype=float), rtol=1e-9
            )


def run(leads: int, seed: int, repeats: int, log: Callable[[str], None]) -> dict[str, Any]:
    """Time the three implementations; return seconds, ratios and peak memory."""
    ws = Workspace.open(ensure("workspace", leads, seed))
    events = ws.db.table("stage_events").count().execute()
    log(f"funnel on {events:,} stage events")
    ws.funnel()  # warm-up: first query loads the file's pages
    engine_s, engine = best_of(repeats, ws.funnel)
    rss_engine = peak_rss_mb()
    con = ws.db.backend.con  # type: ignore[attr-defined]
    sql_s, sql = best_of(repeats, lambda: run_sql(con, ws.plan))
    tables = {name: ws.table(name) for name in ("stage_events", "opportunities", "people")}
    pandas_s, pandas = best_of(1, lambda: run_pandas(tables, ws.plan))
    ws.close()
    compare(engine, sql, pandas)
    return {
        "stage_events": int(events),
        "missionline_s": engine_s,
        "duckdb_sql_s": sql_s,
        "pandas_s": pandas_s,
        "ratio_vs_sql": engine_s / sql_s,
        "speedup_vs_pandas": pandas_s / engine_s,
        "peak_rss_mb_missionline": rss_engine,
        "targets_met": engine_s / sql_s <= 1.2 and pandas_s / engine_s >= 10 and rss_engine <= 2048,
    }
