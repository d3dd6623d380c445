"""Shared helpers: a cached benchmark company, timing, memory and result rows."""

from __future__ import annotations

import os
import platform
import resource
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil


def data_dir() -> Path:
    """Where generated companies and scratch databases live ($MISSIONLINE_BENCH_DATA)."""
    default = Path(__file__).resolve().parent / ".data"
    return Path(os.environ.get("MISSIONLINE_BENCH_DATA", default))


@dataclass
class Timing:
    """Wall-clock seconds of one measured step and the process's peak RSS after it."""

    label: str
    seconds: float = 0.0
    peak_rss_mb: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def peak_rss_mb() -> float:
    """The process's peak resident memory so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextmanager
def measure(label: str) -> Iterator[Timing]:
    """Time the block and record the peak RSS after it."""
    timing = Timing(label)
    started = time.perf_counter()
    yield timing
    timing.seconds = time.perf_counter() - started
    timing.peak_rss_mb = peak_rss_mb()


def best_of(runs: int, work: Callable[[], Any]) -> tuple[float, Any]:
    """Run ``work`` ``runs`` times; return the fastest wall time and the last result."""
    best, result = float("inf"), None
    for _ in range(runs):
        started = time.perf_counter()
        result = work()
        best = min(best, time.perf_counter() - started)
    return best, result


def machine() -> str:
    """One line describing this machine, for the results file."""
    memory = psutil.virtual_memory().total / 2**30
    return (
        f"{platform.processor() or platform.machine()}, {psutil.cpu_count()} cores, "
        f"{memory:.0f} GiB, Python {sys.version.split()[0]}, {platform.system()}"
    )
