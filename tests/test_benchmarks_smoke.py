"""A small run of every benchmark: they still run, and the three implementations agree."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.__main__ import main


def test_benchmarks_smoke(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`python -m benchmarks --smoke` completes with ratios for the funnel and the import."""
    monkeypatch.setenv("MISSIONLINE_BENCH_DATA", str(tmp_path))
    results = main(["--smoke"])
    assert results["funnel"]["stage_events"] > 1000
    assert results["funnel"]["ratio_vs_sql"] > 0
    assert results["import"]["rows"] == results["funnel"]["stage_events"]
    assert results["import"]["ratio"] > 0
    assert results["suite"]["sla_s"] > 0
