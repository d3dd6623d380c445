"""The process-metric suite: every metric against hand-written DuckDB SQL and against pandas.

Issue #5's targets: the whole suite on one company in one process at <= 1.2x the SQL time,
>= 10x faster than pandas, peak RSS <= 2 GB. The suite runs in a child process, so the memory of
earlier benchmarks never counts. Every metric first runs once on its own (a warm-up), and the
process's peak RSS is read then, before any baseline ran. The pandas baselines' tables are read
next (timed apart, as in ``bench_funnel``; not at all when the company is too large for pandas).
Then, metric by metric, missionline and its SQL baseline (on the same DuckDB connection) run
alternately ``repeats`` times, best of each, and the pandas baseline once: on a machine shared
with other work, load that drifts over minutes then hits all three alike. CPU seconds of the
process are kept beside wall seconds, as they vary less under such load. Every baseline must
agree with missionline on every number.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psutil

from benchmarks.bench_funnel import compare as compare_funnel
from benchmarks.common import best_of, peak_rss_mb
from benchmarks.prepare import ensure
from benchmarks.sql_plan import check_plan
from benchmarks.suite_pandas import PANDAS, load_tables
from benchmarks.suite_sql import SQL
from missionline.workspace import Workspace

METRICS: dict[str, Callable[[Workspace], Any]] = {
    "funnel": lambda ws: ws.funnel(),
    "verify": lambda ws: ws.verify(),
    "velocity": lambda ws: ws.velocity(),
    "leakage": lambda ws: ws.leakage(),
    "sla": lambda ws: ws.sla(),
    "pipeline": lambda ws: ws.pipeline(),
    "inputs": lambda ws: ws.inputs(),
    "wave": lambda ws: ws.wave(),
    # timed for regressions only: no baselines, not in the totals
    "funnel_by_segment_month": lambda ws: ws.funnel(by="segment", period="month"),
    "attainments": lambda ws: ws.attainments(),
}
# metric -> (key columns, columns compared exactly, columns compared to 1e-9 relative)
CHECKS: dict[str, tuple[list[str], list[str], list[str]]] = {
    "verify": (["stage"], ["entries", "conforming"], []),
    "velocity": (
        ["stage"],
        ["records", "exited", "stalled"],
        ["median_days", "p90_days", "mean_days", "threshold_days"],
    ),
    "leakage": (
        ["stage"],
        ["records", "advanced", "disqualified", "lost", "recycled", "open", "stalled", "reentered"],
        ["leakage_rate", "reentry_rate", "reentry_median_days", "reentry_p90_days"],
    ),
    "sla": (
        ["stage"],
        ["handed_over", "answered", "within_sla", "accepted", "rejected"],
        [
            *("sla_hours", "share_within_sla", "median_hours", "p90_hours"),
            *("acceptance_rate", "rejection_rate"),
        ],
    ),
    "pipeline": (
        [],
        ["won", "lost", "open_count"],
        [
            *("win_rate", "average_deal_size", "median_deal_size", "median_cycle_days"),
            *("average_cycle_days", "open_amount", "weighted_pipeline"),
            *("pipeline_velocity_per_day", "coverage"),
        ],
    ),
    "inputs": (
        ["channel", "stage"],
        ["entries", "touches", "sales_activities"],
        ["spend", "cost_per_entry", "touches_per_entry", "sales_activities_per_entry"],
    ),
    "wave": (
        ["week"],
        ["marketing_touches", "mql_entries", "won_deals", "open_opportunities", "quarter_end"],
        [
            *("marketing_spend", "marketing_load", "pipeline_created", "bookings"),
            *("rep_capacity", "capacity_use"),
        ],
    ),
}
# pandas needs about this much memory per lead (measured at 1M leads, with headroom): above the
# budget the pandas baselines are skipped rather than swapping the machine to a halt.
PANDAS_MB_PER_LEAD = 0.0045
PANDAS_BUDGET_MB = 20 * 1024


def _aligned(frame: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """Rows in key order, missing keys sorted as one value of their own."""
    if not keys:
        return frame.reset_index(drop=True)
    order = pd.DataFrame({k: frame[k].astype(str).where(frame[k].notna(), "\uffff") for k in keys})
    return frame.loc[order.sort_values(list(keys)).index].reset_index(drop=True)


def _labels(values: pd.Series) -> list[str]:
    """Key values as text (dates and strings alike), a missing value as the empty string."""
    return values.astype(str).where(values.notna(), "").tolist()


def agree(name: str, engine: pd.DataFrame, other: pd.DataFrame, label: str) -> None:
    """Raise AssertionError unless ``other`` gives missionline's numbers for metric ``name``."""
    keys, exact, close = CHECKS[name]
    mine, theirs = _aligned(engine, keys), _aligned(other, keys)
    where = f"{name}: {label} disagrees with missionline"
    assert len(mine) == len(theirs), f"{where} on the number of rows"
    for key in keys:
        assert _labels(mine[key]) == _labels(theirs[key]), f"{where} on the {key} values"
    for column in exact:
        assert mine[column].astype("int64").tolist() == theirs[column].astype("int64").tolist(), (
            f"{where} on {column}"
        )
    for column in close:
        np.testing.assert_allclose(
            pd.to_numeric(mine[column]).to_numpy(dtype=float),
            pd.to_numeric(theirs[column]).to_numpy(dtype=float),
            rtol=1e-9,
            err_msg=f"{where} on {column}",
        )


def _check(name: str, engine: pd.DataFrame, sql: pd.DataFrame, pandas: pd.DataFrame | None) -> None:
    """Both baselines against missionline (the funnel with ``bench_funnel``'s own check)."""
    if name == "funnel":  # its check takes both baselines: SQL twice when pandas was skipped
        compare_funnel(engine, sql, sql if pandas is None else pandas)
        return
    agree(name, engine, sql, "the SQL baseline")
    if pandas is not None:
        agree(name, engine, pandas, "the pandas baseline")


def pandas_fits(leads: int) -> bool:
    """True when the pandas baselines should fit in memory for a company of this size."""
    budget = min(PANDAS_BUDGET_MB, 0.8 * psutil.virtual_memory().total / 2**20)
    return leads * PANDAS_MB_PER_LEAD <= budget


def _missionline_alone(ws: Workspace, log: Callable[[str], None]) -> dict[str, dict[str, Any]]:
    """Run every metric once, before any baseline: the process's peak RSS after each."""
    rows = {}
    for name, metric in METRICS.items():
        seconds, _ = best_of(1, partial(metric, ws))
        rows[name] = {"first_run_s": seconds, "peak_rss_mb": peak_rss_mb()}
        log(f"{name}: first run {seconds:.2f} s, peak RSS {rows[name]['peak_rss_mb']:.0f} MB")
    return rows


def _timed(work: Callable[[], pd.DataFrame]) -> tuple[float, float, pd.DataFrame]:
    """Run ``work``: wall seconds, CPU seconds of the whole process (all threads), result."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = work()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def _time_metric(
    ws: Workspace, name: str, repeats: int, tables: dict[str, pd.DataFrame] | None
) -> tuple[dict[str, float], dict[str, pd.DataFrame]]:
    """Time one metric and its baselines: missionline and SQL alternately ``repeats`` times
    (best of each), then pandas once; wall and CPU seconds, and each one's result."""
    implementations: dict[str, Callable[[], pd.DataFrame]] = {
        "missionline": partial(METRICS[name], ws)
    }
    if name in SQL:
        implementations["duckdb_sql"] = partial(SQL[name], ws.db.backend.con, ws.plan)
    seconds: dict[str, float] = {}
    frames: dict[str, pd.DataFrame] = {}
    for _ in range(repeats):
        for label, work in implementations.items():
            wall, cpu, frames[label] = _timed(work)
            seconds[f"{label}_s"] = min(seconds.get(f"{label}_s", wall), wall)
            seconds[f"{label}_cpu_s"] = min(seconds.get(f"{label}_cpu_s", cpu), cpu)
    if tables is not None and name in PANDAS:
        wall, cpu, frames["pandas"] = _timed(partial(PANDAS[name], tables, ws.plan))
        seconds.update(pandas_s=wall, pandas_cpu_s=cpu)
    return seconds, frames


def _ratios(row: dict[str, Any]) -> None:
    """Add the ratios of a row (one metric, or the totals) that its timings allow."""
    if "duckdb_sql_s" in row:
        row["ratio_vs_sql"] = row["missionline_s"] / row["duckdb_sql_s"]
        row["cpu_ratio_vs_sql"] = row["missionline_cpu_s"] / row["duckdb_sql_cpu_s"]
    if "pandas_s" in row:
        row["speedup_vs_pandas"] = row["pandas_s"] / row["missionline_s"]
        row["cpu_speedup_vs_pandas"] = row["pandas_cpu_s"] / row["missionline_cpu_s"]


def measure(
    folder: Path, repeats: int, with_pandas: bool, log: Callable[[str], None]
) -> dict[str, Any]:
    """Run the suite on the workspace in ``folder`` (in this process); return the results."""
    results: dict[str, Any] = {}
    with Workspace.open(folder) as ws:
        check_plan(ws.plan)
        results["stage_events"] = int(ws.db.table("stage_events").count().execute())
        ws.funnel()  # warm the buffer pool, as a dashboard would be
        rows = results["metrics"] = _missionline_alone(ws, log)
        results["peak_rss_mb_missionline"] = peak_rss_mb()  # before any baseline ran
        tables = None
        if with_pandas:
            results["pandas_load_s"], tables = best_of(1, partial(load_tables, ws))
        for name in METRICS:
            seconds, frames = _time_metric(ws, name, repeats, tables)
            rows[name].update(seconds)
            _ratios(rows[name])
            log(f"{name}: " + ", ".join(f"{k} {v:.2f}" for k, v in seconds.items()))
            if name in SQL:
                _check(name, frames["missionline"], frames["duckdb_sql"], frames.get("pandas"))
        results["peak_rss_mb_with_pandas"] = peak_rss_mb()
    total = results["total"] = _totals(rows)
    targets = {
        "ratio_vs_sql": total["ratio_vs_sql"] <= 1.2,
        "speedup_vs_pandas": total["speedup_vs_pandas"] >= 10 if with_pandas else None,
        "peak_rss": results["peak_rss_mb_missionline"] <= 2048,
    }
    results["targets"] = targets
    results["targets_met"] = all(v for v in targets.values() if v is not None)
    return results


def _totals(metrics: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Seconds summed over the metrics that have baselines, and the suite's ratios."""
    rows = [metrics[name] for name in SQL]
    keys = [k for k in rows[0] if k.endswith("_s") and k != "first_run_s"]
    total = {key: sum(r[key] for r in rows) for key in keys if all(key in r for r in rows)}
    _ratios(total)
    return total


def run(leads: int, seed: int, repeats: int, log: Callable[[str], None]) -> dict[str, Any]:
    """Prepare the company, then measure the suite in a child process; return its results."""
    folder = ensure("workspace", leads, seed)
    with_pandas = pandas_fits(leads)
    if not with_pandas:
        need = leads * PANDAS_MB_PER_LEAD
        log(f"pandas skipped: {leads:,} leads would need about {need:,.0f} MB")
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "suite.json"
        args = [sys.executable, "-m", "benchmarks.bench_suite", str(folder), str(repeats)]
        args += [str(out), "pandas" if with_pandas else "no-pandas"]
        subprocess.run(args, check=True, cwd=Path(__file__).resolve().parents[1])
        results: dict[str, Any] = json.loads(out.read_text())
    results["pandas_skipped"] = not with_pandas
    return results


if __name__ == "__main__":
    folder, repeats, out, pandas = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]

    def _log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    out.write_text(json.dumps(measure(Path(folder), repeats, pandas == "pandas", _log), indent=2))
