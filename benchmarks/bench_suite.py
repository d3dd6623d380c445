"""The process-metric suite on the benchmark company: seconds and peak memory per metric.

Issue #5 asks for each metric against hand-written DuckDB SQL and pandas; only the funnel has
those baselines so far (``bench_funnel``). This benchmark records the time of every other
metric on the same data, so regressions show and the baselines can be added one by one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from benchmarks.common import peak_rss_mb
from benchmarks.prepare import ensure
from missionline.workspace import Workspace

METRICS: dict[str, Callable[[Workspace], Any]] = {
    "funnel": lambda ws: ws.funnel(),
    "funnel_by_segment_month": lambda ws: ws.funnel(by="segment", period="month"),
    "verify": lambda ws: ws.verify(),
    "velocity": lambda ws: ws.velocity(),
    "leakage": lambda ws: ws.leakage(),
    "sla": lambda ws: ws.sla(),
    "pipeline": lambda ws: ws.pipeline(),
    "inputs": lambda ws: ws.inputs(),
    "wave": lambda ws: ws.wave(),
    "attainments": lambda ws: ws.attainments(),
}


def run(leads: int, seed: int, repeats: int, log: Callable[[str], None]) -> dict[str, Any]:
    """Time each metric once (after a warm-up of the workspace); record peak RSS at the end."""
    results: dict[str, Any] = {}
    with Workspace.open(ensure("workspace", leads, seed)) as ws:
        ws.funnel()  # warm the buffer pool, as a dashboard would be
        for name, metric in METRICS.items():
            started = time.perf_counter()
            metric(ws)
            results[f"{name}_s"] = time.perf_counter() - started
            log(f"{name}: {results[f'{name}_s']:.1f} s")
    results["peak_rss_mb"] = peak_rss_mb()
    return results
