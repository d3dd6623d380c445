"""A workspace: a folder with the plan (``missionline.yaml``) and, by default, a DuckDB file.

This is the Python API that the CLI, the report and the web app all call.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import ibis.expr.types as ir
import pandas as pd

from missionline.alignment.attainment import Attainment, attainments
from missionline.alignment.index import AlignmentIndex, alignment_index, alignment_trend
from missionline.alignment.linkage import Linkage, linkage
from missionline.alignment.mission_map import MissionMap, build_mission_map
from missionline.alignment.survey import By, survey_gap, survey_results
from missionline.customers import SegmentPriorities, segment_priorities, top_customers
from missionline.data.database import Database, default_url
from missionline.data.importer import LoadReport, Progress, import_files
from missionline.data.mapping import load_mapping
from missionline.data.schema import LOAD_ORDER, Table, tables_with_fields
from missionline.errors import WorkspaceError
from missionline.metrics.conformance import conformance, offenders
from missionline.metrics.funnel import Basis, funnel
from missionline.metrics.inputs import inputs
from missionline.metrics.leakage import leakage
from missionline.metrics.lifecycle import expansion, net_revenue_retention, retention
from missionline.metrics.pipeline import pipeline
from missionline.metrics.sla import open_breaches, sla
from missionline.metrics.stays import AsOf
from missionline.metrics.velocity import velocity
from missionline.metrics.wave import wave
from missionline.models.attribution import Attribution, attribute, initiative_roi, workspace_paths
from missionline.models.clv import FitResult, fit_bgnbd, workspace_summary
from missionline.models.experiments import ExperimentResult, analyze_experiment
from missionline.models.initiatives import initiative_register
from missionline.plan.loader import load_plan
from missionline.plan.models import Plan
from missionline.plan.rules import PlanContext
from missionline.plan.schema import SCHEMA_FILE, committed_schema_path
from missionline.planning.capacity import capacity_check
from missionline.planning.cascade import CascadeResult, cascade
from missionline.planning.coherence import Finding, target_coherence
from missionline.planning.pacing import PacingResult, pacing
from missionline.planning.scenarios import compare
from missionline.presets import PRESETS, preset_plan
from missionline.workspace_settings import SETTINGS_FILE, absolute_duckdb, connect, database_url

PLAN_FILE = "missionline.yaml"


def packaged_example(name: str) -> Path:
    """Return the folder of an example plan shipped in the package (``demo``, ``starter``)."""
    if name in PRESETS:
        return preset_plan(name)  # a CRM preset's plan: the vendor's default stages
    folder = Path(str(resources.files("missionline"))) / ("demo" if name == "demo" else "templates")
    plan = folder / ("plan.yaml" if name == "demo" else f"{name}.yaml")
    if not plan.is_file():
        raise WorkspaceError(f"no packaged example called {name!r}")
    return plan


class Workspace:
    """An opened workspace: its plan, its tables and the metrics over them."""

    def __init__(self, folder: Path, plan: Plan, db: Database) -> None:
        self.folder = folder
        self.plan = plan
        self.db = db
        self.schema: dict[str, Table] = tables_with_fields(plan.fields)
        self._tables: dict[str, ir.Table] | None = None

    @classmethod
    def open(cls, folder: Path | str, db: str | None = None) -> Workspace:
        """Open an existing workspace folder (its plan must load without errors)."""
        folder = Path(folder)
        plan_path = folder / PLAN_FILE
        if not plan_path.is_file():
            raise WorkspaceError(
                f"{folder} is not a workspace (no {PLAN_FILE}); create one with "
                f"'missionline init -w {folder}'"
            )
        plan = load_plan(plan_path)
        workspace = cls(folder, plan, connect(folder, db))
        workspace.db.ensure_schema(workspace.schema)
        return workspace

    @classmethod
    def init(
        cls, folder: Path | str, source: str | None = None, db: str | None = None
    ) -> Workspace:
        """Create a workspace from a plan (an example folder, a plan file or ``demo``)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / PLAN_FILE
        if target.exists():
            raise WorkspaceError(f"{target} already exists; this folder is already a workspace")
        target.write_text(
            _with_schema_modeline(_plan_source(source).read_text(encoding="utf-8")),
            encoding="utf-8",
        )
        # Editors that read the yaml-language-server modeline complete and check the plan.
        shutil.copyfile(committed_schema_path(), folder / SCHEMA_FILE)
        if db:
            db = absolute_duckdb(db)
            (folder / SETTINGS_FILE).write_text(json.dumps({"database": db}, indent=2) + "\n")
        return cls.open(folder, db)

    def close(self) -> None:
        """Close the database connection."""
        self.db.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def tables(self) -> dict[str, ir.Table]:
        """Return an Ibis table expression per canonical table (lazy; looked up once)."""
        if self._tables is None:
            self._tables = {name: self.db.table(name) for name in self.schema}
        return self._tables

    def table(self, name: str) -> pd.DataFrame:
        """Return a canonical table's rows as a DataFrame."""
        return self.db.table(name).to_pandas()

    def import_files(
        self,
        paths: Sequence[Path | str],
        mapping: Path | str | None = None,
        replace: bool = False,
        progress: Progress | None = None,
    ) -> LoadReport:
        """Validate and load CSV/Parquet files atomically (see :mod:`missionline.data.importer`)."""
        spec = load_mapping(Path(mapping)) if mapping is not None else None
        return import_files(
            self.db, self.plan, self.schema, [Path(p) for p in paths], spec, replace, progress
        )

    def export(self, out_dir: Path | str, fmt: str = "parquet") -> list[Path]:
        """Write each canonical table to ``out_dir/<table>.<fmt>``; importing restores the data."""
        if fmt not in ("parquet", "csv"):
            raise WorkspaceError(f"unknown export format {fmt!r}; use parquet or csv")
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for name in LOAD_ORDER:
            table = self.schema[name]
            expr = self.db.table(name).select(table.names()).order_by(list(table.key))
            path = out / f"{name}.{fmt}"
            self.db.export(expr, path, fmt)
            written.append(path)
        return written

    def verify(self, by: Sequence[str] | str = (), period: str | None = None) -> pd.DataFrame:
        """Entry-rule conformance per stage: entries, conforming entries and their share."""
        dims = _dimensions(by)
        return conformance(self.tables(), self.schema, self.plan, dims, period)

    def offenders(self, limit: int = 5) -> pd.DataFrame:
        """A sample of records per stage that entered without meeting the entry rule."""
        return offenders(self.tables(), self.schema, self.plan, limit)

    def velocity(self, by: Sequence[str] | str = (), period: str | None = None) -> pd.DataFrame:
        """Time in stage per stage (median, p90, mean) and stalled records."""
        dims = _dimensions(by)
        return velocity(self.tables(), self.schema, self.plan, dims, period)

    def leakage(self, by: Sequence[str] | str = (), period: str | None = None) -> pd.DataFrame:
        """Where each stage leaks to (disqualified, lost, recycled), and re-entry rates."""
        dims = _dimensions(by)
        return leakage(self.tables(), self.schema, self.plan, dims, period)

    def sla(self, by: Sequence[str] | str = (), period: str | None = None) -> pd.DataFrame:
        """Hand-offs per stage with an SLA: response times, share within SLA, acceptance."""
        dims = _dimensions(by)
        return sla(self.tables(), self.schema, self.plan, dims, period)

    def open_breaches(self, as_of: dt.datetime | None = None) -> pd.DataFrame:
        """Records waiting beyond their SLA now, by owner: the morning list."""
        return open_breaches(self.tables(), self.schema, self.plan, as_of)

    def pipeline(self, by: Sequence[str] | str = (), period: str | None = None) -> pd.DataFrame:
        """Win rate, deal size, cycle, velocity, weighted pipeline and coverage."""
        dims = _dimensions(by)
        return pipeline(self.tables(), self.schema, self.plan, dims, period)

    def inputs(
        self, by: Sequence[str] | str = ("channel",), period: str | None = None
    ) -> pd.DataFrame:
        """Spend and activities against the entries they produced, per stage."""
        dims = _dimensions(by)
        return inputs(self.tables(), self.schema, self.plan, dims, period)

    def wave(self, by: Sequence[str] | str = ()) -> pd.DataFrame:
        """The revenue wave: marketing load, capacity use, pipeline and bookings per week."""
        dims = _dimensions(by)
        return wave(self.tables(), self.schema, self.plan, dims)

    def retention(
        self, by: Sequence[str] | str = (), period: str = "quarter", as_of: AsOf = None
    ) -> pd.DataFrame:
        """Logo and revenue retention by acquisition cohort and age."""
        return retention(self.tables(), self.schema, self.plan, _dimensions(by), period, as_of)

    def net_revenue_retention(
        self, by: Sequence[str] | str = (), period: str = "quarter", as_of: AsOf = None
    ) -> pd.DataFrame:
        """NRR, GRR, churn and expansion over the trailing twelve months at each period end."""
        dims = _dimensions(by)
        return net_revenue_retention(self.tables(), self.schema, self.plan, dims, period, as_of)

    def expansion(
        self, by: Sequence[str] | str = (), period: str = "quarter", as_of: AsOf = None
    ) -> pd.DataFrame:
        """Per cohort: customers that expanded, how soon, and those that became advocates."""
        return expansion(self.tables(), self.schema, self.plan, _dimensions(by), period, as_of)

    def top_customers(self, per: str = "market", n: int = 10) -> pd.DataFrame:
        """The top customers per market (or segment) by lifetime value, with the next move."""
        return top_customers(self.tables(), self.schema, self.plan, per, n)

    def segment_priorities(self) -> SegmentPriorities:
        """Markets and segments by expected value per unit of effort, against the plan."""
        return segment_priorities(self.tables(), self.schema, self.plan)

    def experiment(
        self, experiment_id: str, as_of: AsOf = None, alpha: float | None = None
    ) -> ExperimentResult:
        """Analyse a plan experiment: lifts, intervals, chance to win, SRM and the verdict."""
        return analyze_experiment(
            self.tables(), self.schema, self.plan, experiment_id, as_of=as_of, alpha=alpha
        )

    def alignment(self) -> AlignmentIndex:
        """The alignment index over all the data: components, coverage and drivers."""
        return alignment_index(self.tables(), self.schema, self.plan)

    def alignment_trend(self, period: str = "quarter") -> list[AlignmentIndex]:
        """The alignment index per calendar period, from the first to the last stage entry."""
        return alignment_trend(self.tables(), self.schema, self.plan, period)

    def survey(self, by: By = "function", period: str | None = None) -> pd.DataFrame:
        """Questionnaire results per function (and ``all``) or per statement."""
        return survey_results(self.tables(), self.schema, self.plan, by, period)

    def survey_gap(self, period: str | None = None) -> pd.DataFrame:
        """The compared functions' overall questionnaire gap with its 95% interval."""
        return survey_gap(self.tables(), self.schema, self.plan, period)

    def cascade(
        self, by: Sequence[str] | str = (), period: str = "month", lookback: str | None = None
    ) -> CascadeResult:
        """Entries each stage needs per period, shifted by the lags, to meet the targets."""
        return cascade(self.tables(), self.schema, self.plan, _dimensions(by), period, lookback)

    def target_coherence(self, lookback: str | None = None) -> list[Finding]:
        """Objectives whose own targets cannot deliver what the cascade needs."""
        return target_coherence(self.tables(), self.schema, self.plan, lookback=lookback)

    def pacing(self, by: Sequence[str] | str = (), as_of: AsOf = None) -> PacingResult:
        """Actual against required to date, and each success factor's projected attainment."""
        return pacing(self.tables(), self.schema, self.plan, _dimensions(by), as_of)

    def scenarios(self, extra: Sequence[tuple[str, Sequence[str]]] = ()) -> pd.DataFrame:
        """The plan's scenarios (and ``extra`` ones) side by side with the baseline."""
        return compare(self.tables(), self.schema, self.plan, extra)

    def capacity(self, as_of: AsOf = None) -> pd.DataFrame:
        """Monthly demand against sales capacity and marketing budget; scarce and idle months."""
        return capacity_check(self.tables(), self.schema, self.plan, as_of)

    def clv_fit(self, time_unit: str = "W") -> FitResult:
        """The BG/NBD model fitted on the accounts' purchases (revenue rows)."""
        return fit_bgnbd(workspace_summary(self.tables(), time_unit=time_unit))

    def attribution(
        self, model: str = "markov", level: str = "person", by: str = "channel"
    ) -> Attribution:
        """Conversions and revenue credited to channels (or initiatives) under one model."""
        paths = workspace_paths(self.tables(), self.schema, self.plan, level, by)
        return attribute(paths, model)

    def initiatives(self, model: str = "markov", as_of: AsOf = None) -> pd.DataFrame:
        """The initiative register: budget, spend, status, verdicts, attributed value and ROI."""
        return initiative_register(self.tables(), self.schema, self.plan, model, as_of)

    def initiative_roi(self, model: str = "markov") -> pd.DataFrame:
        """Each initiative's attributed conversions and revenue against its spend."""
        return initiative_roi(self.tables(), self.schema, self.plan, model)

    def attainments(self) -> list[Attainment]:
        """Each success factor and objective against its actual in its last full period."""
        return attainments(self.tables(), self.plan)

    def linkage(self) -> Linkage:
        """Initiatives, budget and spend per success factor and function; what is unlinked."""
        return linkage(self.plan, spend_by_initiative(self.tables()))

    def mission_map(self) -> MissionMap:
        """The mission map's content, with actuals against targets."""
        return build_mission_map(self.plan, self.attainments())

    def funnel(
        self,
        by: Sequence[str] | str = (),
        period: str | None = None,
        basis: Basis = "cohort",
        within_days: float | None = None,
    ) -> pd.DataFrame:
        """The funnel per stage (see :mod:`missionline.metrics.funnel` for the definitions)."""
        dims = _dimensions(by)
        return funnel(self.tables(), self.schema, self.plan, dims, period, basis, within_days)


def _dimensions(by: Sequence[str] | str) -> list[str]:
    """``by`` as a list: one dimension may be passed as a plain string."""
    return [by] if isinstance(by, str) else list(by)


def spend_by_initiative(tables: dict[str, ir.Table]) -> dict[str | None, float]:
    """Total spend per initiative id (None for spend not booked to an initiative)."""
    spend = tables["spend"]
    totals = spend.group_by("initiative_id").agg(amount=spend.amount.sum()).to_pandas()
    return {(None if pd.isna(k) else str(k)): float(v) for k, v in totals.itertuples(index=False)}


def plan_context(folder: Path, plan: Plan, db: str | None = None) -> PlanContext:
    """What the plan rules may know from the workspace's data (nothing when there is none)."""
    schema = tables_with_fields(plan.fields)
    columns = {f"{t}.{c.name}": c.type for t, table in schema.items() for c in table.all_columns}
    url = database_url(folder, db)
    if url == default_url(folder) and not (folder / "missionline.duckdb").exists():
        return PlanContext(columns)
    database = connect(folder, db)
    try:
        if "spend" not in database.tables():
            return PlanContext(columns)
        totals = spend_by_initiative({"spend": database.table("spend")})
        return PlanContext(columns, {k: v for k, v in totals.items() if k is not None})
    finally:
        database.close()


def _with_schema_modeline(text: str) -> str:
    """Point the plan's yaml-language-server modeline at the workspace's schema copy."""
    modeline = f"# yaml-language-server: $schema={SCHEMA_FILE}"
    lines = [line for line in text.splitlines() if "yaml-language-server:" not in line]
    return "\n".join([modeline, *lines]) + "\n"


def _plan_source(source: str | None) -> Path:
    """Resolve ``--from``: nothing (starter plan), ``demo``, a folder or a plan file."""
    if source is None:
        return packaged_example("starter")
    path = Path(source)
    if path.is_dir():
        if not (path / PLAN_FILE).is_file():
            raise WorkspaceError(f"{path} holds no {PLAN_FILE} to start from")
        return path / PLAN_FILE
    if path.is_file():
        return path
    return packaged_example(source)


def open(path: Path | str = ".", db: str | None = None) -> Workspace:
    """Open the workspace in ``path`` (the folder holding ``missionline.yaml``)."""
    return Workspace.open(path, db)
