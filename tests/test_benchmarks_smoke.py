"""A small run of every benchmark: they still run, and every baseline agrees with missionline."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from benchmarks.__main__ import main
from benchmarks.suite_sql import SQL

SUITE = ("funnel", "verify", "velocity", "leakage", "sla", "pipeline", "inputs", "wave")


def test_benchmarks_smoke(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`python -m benchmarks --smoke` completes with ratios for every benchmark and metric."""
    monkeypatch.setenv("MISSIONLINE_BENCH_DATA", str(tmp_path))
    monkeypatch.setenv("MISSIONLINE_BENCH_ENGINES", "postgres")  # Spark's start costs a minute
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
    scale = results["scale"]
    assert scale["stage_events_big"] == scale["copies"] * scale["stage_events_original"]
    assert all(m["scaling"] > 0 for m in scale["metrics"].values())
    postgres = results["backends"]["postgres"]
    if "skipped" in postgres and not os.environ.get("CI"):
        pytest.skip(f"PostgreSQL: {postgres['skipped']}")
    assert postgres["total_ratio_vs_duckdb"] > 0
