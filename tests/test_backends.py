"""The metric library on every engine: each result equals DuckDB's within floating tolerance.

The same fixture company (skips, ties, nulls, re-entries) and a small demo company are
imported into DuckDB, PostgreSQL and Spark (see backend_fixtures.py); every Workspace metric
runs on each, with exact percentiles, and is compared with DuckDB's result. A known
difference is marked per engine and metric with a strict xfail, never skipped.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

from backend_fixtures import ENGINES, Companies
from backends import open_workspace
from missionline.workspace import Workspace

Metric = Callable[[Workspace], Any]
METRICS: dict[str, Metric] = {
    "funnel": lambda ws: ws.funnel(),
    "funnel_by_segment_quarter": lambda ws: ws.funnel(by="segment", period="quarter"),
    "funnel_period_basis": lambda ws: ws.funnel(by="channel", period="month", basis="period"),
    "funnel_within_30_days": lambda ws: ws.funnel(within_days=30),
    "funnel_by_team": lambda ws: ws.funnel(by="team"),
    "verify": lambda ws: ws.verify(),
    "verify_by_channel_month": lambda ws: ws.verify(by="channel", period="month"),
    "offenders": lambda ws: ws.offenders(),
    "velocity": lambda ws: ws.velocity(),
    "velocity_by_segment_quarter": lambda ws: ws.velocity(by="segment", period="quarter"),
    "leakage": lambda ws: ws.leakage(),
    "leakage_by_channel": lambda ws: ws.leakage(by="channel"),
    "sla": lambda ws: ws.sla(),
    "sla_by_owner_month": lambda ws: ws.sla(by="owner", period="month"),
    "open_breaches": lambda ws: ws.open_breaches(),
    "pipeline": lambda ws: ws.pipeline(),
    "pipeline_by_segment_quarter": lambda ws: ws.pipeline(by="segment", period="quarter"),
    "inputs": lambda ws: ws.inputs(),
    "inputs_by_segment_month": lambda ws: ws.inputs(by="segment", period="month"),
    "wave": lambda ws: ws.wave(),
    "attainments": lambda ws: ws.attainments(),
    "linkage": lambda ws: ws.linkage(),
    "retention": lambda ws: ws.retention(),
    "net_revenue_retention": lambda ws: ws.net_revenue_retention(),
    "expansion": lambda ws: ws.expansion(),
    "top_customers": lambda ws: ws.top_customers(),
    "cascade": lambda ws: ws.cascade().required,
    "cascade_assumptions": lambda ws: ws.cascade().assumptions,
    "capacity": lambda ws: ws.capacity(),
    "attribution_markov": lambda ws: ws.attribution().channels,
    "initiatives": lambda ws: ws.initiatives(),
    "alignment_components": lambda ws: pd.json_normalize(ws.alignment().as_json()["components"]),
    "alignment_drivers": lambda ws: ws.alignment().drivers,
    "survey": lambda ws: ws.survey(),
}
# (engine, metric) -> why its result differs from DuckDB's; none known: every metric agrees today
KNOWN_DIFFERENCES: dict[tuple[str, str], str] = {}


def _cases() -> list[Any]:
    """Every metric on both companies and every engine but DuckDB, the reference, with the
    known differences marked."""
    cases = []
    for engine in ENGINES[1:]:
        for company in ("fixture", "demo"):
            for name in METRICS:
                reason = KNOWN_DIFFERENCES.get((engine, name))
                marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
                if engine == "spark":  # a few seconds of job scheduling per query
                    marks.append(pytest.mark.slow)
                case_id = f"{engine}-{company}-{name}"
                cases.append(pytest.param(engine, company, name, marks=marks, id=case_id))
    return cases


def frame_of(result: Any) -> pd.DataFrame:
    """A metric result as a frame: dataclasses (attainments, linkage) become rows."""
    if isinstance(result, pd.DataFrame):
        return result
    if isinstance(result, list):
        return pd.DataFrame([dataclasses.asdict(item) for item in result])
    flat = dataclasses.asdict(result)
    return pd.DataFrame([{k: repr(v) if isinstance(v, list) else v for k, v in flat.items()}])


def normalised(frame: pd.DataFrame) -> pd.DataFrame:
    """One representation per value whatever the engine's driver returned: floats for numbers,
    microsecond timestamps, and None for every missing value of other columns."""
    out = frame.reset_index(drop=True).copy()
    for column in out.columns:
        values = out[column]
        if pd.api.types.is_bool_dtype(values):
            out[column] = values.astype(object)
        elif pd.api.types.is_numeric_dtype(values):
            out[column] = values.astype("float64")
        elif pd.api.types.is_datetime64_any_dtype(values):
            out[column] = values.astype("datetime64[us]")
        else:
            out[column] = values.astype(object).where(values.notna(), None)
    return out


def assert_same(actual: pd.DataFrame, expected: pd.DataFrame) -> None:
    """Equal columns, rows and values; numbers within a relative 1e-9."""
    actual, expected = normalised(actual), normalised(expected)
    assert list(actual.columns) == list(expected.columns)
    assert len(actual) == len(expected), f"{len(actual)} rows, expected {len(expected)}"
    for column in expected.columns:
        mine, theirs = actual[column], expected[column]
        if mine.dtype == "float64" and theirs.dtype == "float64":
            np.testing.assert_allclose(mine, theirs, rtol=1e-9, atol=1e-9, err_msg=column)
        else:
            assert mine.tolist() == theirs.tolist(), column


@pytest.mark.parametrize(("backend", "company", "metric"), _cases(), indirect=["backend"])
def test_metric_matches_duckdb(
    backend: Companies, reference: Companies, company: str, metric: str
) -> None:
    """Each metric on each engine returns DuckDB's result (known differences marked)."""
    run = METRICS[metric]
    expected = frame_of(run(getattr(reference, company)))
    actual = frame_of(run(getattr(backend, company)))
    assert_same(actual, expected)


@pytest.mark.parametrize("backend", ENGINES, indirect=True)
def test_approximate_percentiles_are_labelled_and_close(
    backend: Companies, reference: Companies
) -> None:
    """Asked for approximate percentiles, each engine says what it computed, close to exact."""
    ws = backend.demo
    with open_workspace(ws.folder, ws.db.url, "approximate") as approximate:
        rough = approximate.funnel()
    exact = reference.demo.funnel()
    assert exact.attrs["percentiles"] == "exact"
    # PostgreSQL has no approximate percentile: it computes (and says) exact
    assert rough.attrs["percentiles"] == (
        "exact" if backend.engine == "postgres" else "approximate"
    )
    # loose: some stages of the small demo hold a few dozen records, where a t-digest is coarse
    for column in ("median_days_to_next", "p90_days_to_next"):
        np.testing.assert_allclose(rough[column], exact[column], rtol=0.25, err_msg=column)


@pytest.mark.parametrize("backend", ["spark"], indirect=True)
def test_spark_defaults_to_approximate_percentiles(backend: Companies) -> None:
    """Without a setting, a Spark workspace computes approximate percentiles and says so."""
    with open_workspace(backend.demo.folder, "pyspark") as ws:
        assert ws.db.percentiles == "approximate"
        assert ws.velocity().attrs["percentiles"] == "approximate"
