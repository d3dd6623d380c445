"""Warehouse-sized data on one machine: the funnel, SLA and pipeline metrics out of core.

Target (issue #11): with 100 million stage events in DuckDB and a memory limit of 8 GB, the
funnel, SLA and pipeline metrics complete, with their time and peak memory recorded. The big
company is the benchmark company copied ``COPIES`` times (ten copies of the 4,000,000-lead
company hold about 100 million stage events): every copy's ids get a suffix (``~1``, ``~2``,
…), so the copies are distinct records, accounts and opportunities with the same history;
owners, spend and the plan are shared. Building it takes a few minutes the first time and is
cached beside the other inputs.

The metrics run in a child process with the workspace's memory limit set: first on the big
company (the peak RSS is read right after, so it is the big run's), then on the original
company with the same limit. The ratio ``scaling`` (big time ÷ original time) says how the
time grows with the data: ``COPIES`` is linear.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb

from benchmarks.common import peak_rss_mb
from benchmarks.prepare import ensure, workspace_folder
from missionline.data.schema import TABLES
from missionline.data.sql import ident, lit
from missionline.workspace import Workspace

COPIES = 10
MEMORY_LIMIT = "8GB"
SMOKE = {"copies": 3, "memory_limit": "1GB"}
ID_COLUMNS = {"account_id", "person_id", "opportunity_id", "record_id", "touch_id", "unit_id"}
SHARED = {"owners", "spend"}  # one sales team and one budget for all the copies
METRICS: dict[str, Callable[[Workspace], Any]] = {
    "funnel": lambda ws: ws.funnel(),
    "sla": lambda ws: ws.sla(),
    "pipeline": lambda ws: ws.pipeline(),
}


def copies_folder(leads: int, seed: int, copies: int) -> Path:
    """Where the company copied ``copies`` times lives."""
    return workspace_folder(leads, seed).with_name(f"workspace-{leads}-{seed}-x{copies}")


def _copy_select(table: str, columns: list[str]) -> str:
    """A SELECT of ``table`` repeated once per copy, every id column suffixed from copy 1 on."""
    parts = []
    for column in columns:
        quoted = ident(column)
        if column in ID_COLUMNS or (table == "survey_responses" and column == "response_id"):
            parts.append(
                f"CASE WHEN copy_no = 0 THEN {quoted} ELSE {quoted} || {lit('~')} || copy_no END"
                f" AS {quoted}"
            )
        else:
            parts.append(quoted)
    source = f"source.main.{ident(table)}"
    return f"SELECT {', '.join(parts)} FROM {source}, range(?) AS copies(copy_no)"


def build(leads: int, seed: int, copies: int) -> Path:
    """Write the workspace with the company copied ``copies`` times (once; cached)."""
    folder = copies_folder(leads, seed, copies)
    if (folder / ".complete").exists():
        return folder
    original = ensure("workspace", leads, seed)
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(original, folder)
    (folder / ".complete").unlink()
    started = time.perf_counter()
    target = duckdb.connect(str(folder / "missionline.duckdb"))
    target.execute(f"ATTACH {lit(str(original / 'missionline.duckdb'))} AS source (READ_ONLY)")
    for name, table in TABLES.items():
        if name in SHARED:
            continue
        columns = [row[0] for row in target.execute(f"DESCRIBE {ident(name)}").fetchall()]
        assert set(table.names()) <= set(columns), name
        select = _copy_select(name, columns)
        target.execute(f"CREATE OR REPLACE TABLE {ident(name)} AS {select}", [copies])
    events = target.execute("SELECT count(*) FROM stage_events").fetchone()
    target.close()
    print(
        f"copied the company {copies} times ({events[0] if events else 0:,} stage events) "
        f"in {time.perf_counter() - started:.0f} s",
        file=sys.stderr,
    )
    (folder / ".complete").touch()
    return folder


def measure(big: Path, original: Path, copies: int, memory_limit: str) -> dict[str, Any]:
    """Each metric on the big company (then its peak RSS), then on the original one; the big
    funnel must count exactly ``copies`` times the original's entries."""
    results: dict[str, Any] = {"memory_limit": memory_limit, "metrics": {}}
    timings: dict[str, dict[str, float]] = {}
    entries: dict[str, list[int]] = {}
    for label, folder in (("big", big), ("original", original)):
        with Workspace.open(folder) as ws:
            ws.db.limit_memory(memory_limit)
            results[f"stage_events_{label}"] = int(ws.tables()["stage_events"].count().execute())
            for metric, call in METRICS.items():
                started = time.perf_counter()
                result = call(ws)
                timings.setdefault(metric, {})[label] = time.perf_counter() - started
                if metric == "funnel":
                    entries[label] = [int(n) for n in result["entries"]]
        if label == "big":
            results["peak_rss_mb_big"] = peak_rss_mb()
    if entries["big"] != [copies * n for n in entries["original"]]:
        raise AssertionError(f"the copies' funnel {entries['big']} is not {copies} times {entries}")
    for metric, seconds in timings.items():
        results["metrics"][metric] = {
            "big_s": seconds["big"],
            "original_s": seconds["original"],
            "scaling": seconds["big"] / seconds["original"],
        }
    results["total_big_s"] = sum(t["big"] for t in timings.values())
    results["total_original_s"] = sum(t["original"] for t in timings.values())
    results["scaling"] = results["total_big_s"] / results["total_original_s"]
    return results


def run(leads: int, seed: int, repeats: int, log: Callable[[str], None]) -> dict[str, Any]:
    """Build the copied company, then measure it in a child process; return its results."""
    smoke = leads < 100_000
    copies = SMOKE["copies"] if smoke else COPIES
    limit = SMOKE["memory_limit"] if smoke else MEMORY_LIMIT
    log(f"copying the {leads:,}-lead company {copies} times")
    args = [sys.executable, "-m", "benchmarks.bench_scale", "build", str(leads), str(seed)]
    subprocess.run([*args, str(copies)], check=True, cwd=Path(__file__).resolve().parents[1])
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "scale.json"
        args = [sys.executable, "-m", "benchmarks.bench_scale", "measure", str(leads), str(seed)]
        args += [str(copies), limit, str(out)]
        subprocess.run(args, check=True, cwd=Path(__file__).resolve().parents[1])
        results: dict[str, Any] = json.loads(out.read_text())
    results["copies"] = copies
    return results


if __name__ == "__main__":
    step, leads_arg, seed_arg, copies_arg = sys.argv[1:5]
    leads_n, seed_n, copies_n = int(leads_arg), int(seed_arg), int(copies_arg)
    if step == "build":
        build(leads_n, seed_n, copies_n)
    else:
        result = measure(
            copies_folder(leads_n, seed_n, copies_n),
            ensure("workspace", leads_n, seed_n),
            copies_n,
            sys.argv[5],
        )
        Path(sys.argv[6]).write_text(json.dumps(result, indent=2))
