"""The metric suite on PostgreSQL and on local Spark, each against DuckDB in the same process.

The company's Parquet files are imported into each engine (timed: ``import_s``, with COPY on
PostgreSQL), then every metric of ``bench_suite.METRICS`` runs (best of ``repeats``) and is
divided by DuckDB's time on the same data: ``ratio_vs_duckdb``. Before any timing is trusted,
each engine's funnel must equal DuckDB's (counts exactly, days to 1e-9 relative).

PostgreSQL: ``$MISSIONLINE_BENCH_POSTGRES`` (a URL of an empty database) when set, else a
throwaway server started as the tests start one (``tests/backends.py``: needs the server
binaries). Spark: a local session (needs Java 17), with its default approximate percentiles;
``funnel_exact_s`` times the funnel with exact percentiles too. ``$MISSIONLINE_BENCH_ENGINES``
(default ``postgres,spark``) chooses the engines; one that cannot start here is reported with
the reason instead of timings.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.bench_suite import METRICS
from benchmarks.common import best_of, data_dir
from benchmarks.prepare import ensure
from missionline.errors import MissionlineError
from missionline.workspace import Workspace
from missionline.workspace_settings import SETTINGS_FILE

TESTS = Path(__file__).resolve().parents[1] / "tests"


@contextmanager
def postgres_url() -> Iterator[str]:
    """An empty PostgreSQL database: the given one, or a throwaway server's."""
    given = os.environ.get("MISSIONLINE_BENCH_POSTGRES")
    if given:
        yield given
        return
    sys.path.insert(0, str(TESTS))  # the tests' server helper; benchmarks are not shipped
    from backends import PostgresServer, postgres_missing

    if (reason := postgres_missing()) is not None:
        raise RuntimeError(reason)
    server = PostgresServer().start()
    try:
        yield server.url()
    finally:
        server.stop()


def _open(folder: Path, url: str, percentiles: str | None = None) -> Workspace:
    """Open the demo-plan workspace in ``folder`` on ``url``, as ``--db`` does (the memory limit
    from $MISSIONLINE_MEMORY_LIMIT sizes Spark's driver), with the given percentiles."""
    settings = {"percentiles": percentiles} if percentiles else {}
    (folder / SETTINGS_FILE).write_text(json.dumps(settings), encoding="utf-8")
    return Workspace.open(folder, url)


def _same_funnel(engine: Workspace, duckdb: Workspace) -> None:
    """Fail loudly when the engine's funnel differs from DuckDB's."""
    mine, theirs = engine.funnel(), duckdb.funnel()
    assert mine["entries"].tolist() == theirs["entries"].tolist()
    for column in ("conversion_to_next", "median_days_to_next", "p90_days_to_next"):
        if engine.db.percentiles == "approximate" and column != "conversion_to_next":
            continue  # an approximate percentile is another number by design
        np.testing.assert_allclose(
            mine[column].to_numpy(dtype=float), theirs[column].to_numpy(dtype=float), rtol=1e-9
        )


def _engine(
    name: str,
    url: str,
    files: Path,
    duckdb: Workspace,
    baseline: dict[str, float],
    repeats: int,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """Import the company into one engine and time the suite there."""
    folder = data_dir() / f"backends-{name}"
    shutil.rmtree(folder, ignore_errors=True)
    Workspace.init(folder, "demo").close()
    results: dict[str, Any] = {}
    with _open(folder, url) as ws:
        started = time.perf_counter()
        ws.import_files([files])
        results["import_s"] = time.perf_counter() - started
        log(f"{name}: import {results['import_s']:.1f} s")
        _same_funnel(ws, duckdb)
        results["percentiles"] = ws.db.percentiles
        metrics = {}
        for metric, call in METRICS.items():
            seconds, _ = best_of(repeats, partial(call, ws))
            metrics[metric] = {"s": seconds, "ratio_vs_duckdb": seconds / baseline[metric]}
            log(f"{name}: {metric} {seconds:.1f} s ({seconds / baseline[metric]:.1f}x DuckDB)")
        results["metrics"] = metrics
        total = sum(m["s"] for m in metrics.values())
        results["total_s"] = total
        results["total_ratio_vs_duckdb"] = total / sum(baseline.values())
    if name == "spark":
        with _open(folder, url, "exact") as exact:
            results["funnel_exact_s"], _ = best_of(repeats, exact.funnel)
    return results


def run(leads: int, seed: int, repeats: int, log: Callable[[str], None]) -> dict[str, Any]:
    """Time the suite on DuckDB, then on each engine, with ratios against DuckDB."""
    files = ensure("files", leads, seed, "parquet")
    engines = os.environ.get("MISSIONLINE_BENCH_ENGINES", "postgres,spark").split(",")
    results: dict[str, Any] = {}
    with Workspace.open(ensure("workspace", leads, seed)) as duckdb:
        results["stage_events"] = int(duckdb.db.table("stage_events").count().execute())
        duckdb.funnel()  # warm-up, as the other benchmarks do
        baseline = {}
        for metric, call in METRICS.items():
            baseline[metric], _ = best_of(repeats, partial(call, duckdb))
        results["duckdb"] = {"metrics": {m: {"s": s} for m, s in baseline.items()}}
        results["duckdb"]["total_s"] = sum(baseline.values())
        for name in (e.strip() for e in engines if e.strip()):
            try:
                if name == "postgres":
                    with postgres_url() as url:
                        results[name] = _engine(name, url, files, duckdb, baseline, repeats, log)
                elif name == "spark":
                    results[name] = _engine(name, "pyspark", files, duckdb, baseline, repeats, log)
                else:
                    results[name] = {"skipped": f"unknown engine {name!r}"}
            except (ImportError, RuntimeError, OSError, MissionlineError) as exc:
                results[name] = {"skipped": str(exc)}
                log(f"{name}: skipped: {exc}")
    return results
