"""The vectorised pandas baselines of the metric suite, one per ``Workspace`` metric.

The tables are read into DataFrames once (:func:`load_tables`, timed apart, as ``bench_funnel``
does); each baseline then computes the numbers of the metric's default call on the demo plan.
The funnel's implementation is ``funnel_sql``'s, the one ``bench_funnel`` uses.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from benchmarks.funnel_sql import run_pandas as funnel_pandas
from benchmarks.pandas_inputs import inputs_pandas
from benchmarks.pandas_pipeline import pipeline_pandas
from benchmarks.pandas_sla import sla_pandas
from benchmarks.pandas_stays import leakage_pandas, velocity_pandas
from benchmarks.pandas_verify import verify_pandas
from benchmarks.pandas_wave import wave_pandas
from benchmarks.sql_plan import initiative_channels
from missionline.plan.models import Plan
from missionline.workspace import Workspace

TABLES = ("stage_events", "people", "accounts", "opportunities", "touches", "spend", "owners")

PandasBaseline = Callable[[dict[str, pd.DataFrame], Plan], pd.DataFrame]

PANDAS: dict[str, PandasBaseline] = {
    "funnel": funnel_pandas,
    "verify": lambda tables, plan: verify_pandas(tables),
    "velocity": lambda tables, plan: velocity_pandas(tables),
    "leakage": lambda tables, plan: leakage_pandas(tables),
    "sla": lambda tables, plan: sla_pandas(tables),
    "pipeline": lambda tables, plan: pipeline_pandas(tables),
    "inputs": lambda tables, plan: inputs_pandas(tables, initiative_channels(plan)),
    "wave": lambda tables, plan: wave_pandas(tables),
}


def load_tables(ws: Workspace) -> dict[str, pd.DataFrame]:
    """Every table the baselines read, as DataFrames."""
    return {name: ws.table(name) for name in TABLES}
