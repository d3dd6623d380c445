"""A small run of every benchmark: they still run, and every baseline agrees with missionline."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.__main__ import main
from benchmarks.suite_sql import SQL

SUITE = ("funnel", "verify", "velocity", "leakage", "sla", "pipeline", "inputs", "wave")


def test_benchmarks_smoke(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`python -m benchmarks --smoke` completes with ratios for every benchmark and metric."""
    monkeypatch.setenv("MISSIONLINE_BENCH_DATA", str(tmp_path))
    results = main(["--smoke"])
    assert results["funnel"]["stage_events"] > 1000
    assert results["funnel"]["ratio_vs_sql"] > 0
    assert results["import"]["rows"] == results["funnel"]["stage_events"]
    assert results["import"]["ratio"] > 0
    suite = results["suite"]
    assert suite["stage_events"] == results["funnel"]["stage_events"]
    assert set(SQL) == {*SUITE}
    for name in SQL:
        assert suite["metrics"][name]["ratio_vs_sql"] > 0, name
        assert suite["metrics"][name]["speedup_vs_pandas"] > 0, name
    assert suite["total"]["ratio_vs_sql"] > 0
    assert suite["total"]["speedup_vs_pandas"] > 0
    assert 0 < suite["peak_rss_mb_missionline"] <= suite["peak_rss_mb_with_pandas"]
