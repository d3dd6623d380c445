"""Revenue-process commands: the pipeline, and the inputs (spend, activities, capacity)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from missionline.cli.metrics import ByOption, PeriodOption
from missionline.cli.options import DbOption, FormatOption, WorkspaceOption
from missionline.cli.output import Format, emit
from missionline.errors import MissionlineError
from missionline.metrics.inputs import capacity, efficiency, inputs
from missionline.metrics.pipeline import pipeline, stage_probabilities
from missionline.workspace import Workspace

AsOfOption = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        help="Measure as of this date or time (UTC; a date means its midnight). "
        "Default: the end of the data.",
    ),
]


def pipeline_command(
    workspace: WorkspaceOption = Path("."),
    by: ByOption = None,
    period: PeriodOption = None,
    as_of: AsOfOption = None,
    fmt: FormatOption = Format.table,
    db: DbOption = None,
) -> None:
    """Win rate, deal size, sales cycle, open and weighted pipeline, velocity and coverage."""
    with Workspace.open(workspace, db) as ws:
        frame = pipeline_frame(ws, by, period, as_of)
        if fmt == Format.table:
            probabilities = stage_probabilities(ws.tables(), ws.schema, ws.plan, as_of)
        company = ws.plan.company
    emit(frame, fmt, title=f"{company}: pipeline")
    if fmt == Format.table:
        emit(probabilities, fmt, title="Stage probabilities (share of closed deals won)")


def pipeline_frame(
    ws: Workspace, by: list[str] | None = None, period: str | None = None, as_of: str | None = None
) -> pd.DataFrame:
    """The pipeline rows ``missionline pipeline`` prints (JSON and CSV carry only these)."""
    return pipeline(ws.tables(), ws.schema, ws.plan, by or [], period, as_of)


def inputs_command(
    workspace: WorkspaceOption = Path("."),
    by: ByOption = None,
    period: PeriodOption = None,
    show_capacity: Annotated[
        bool,
        typer.Option("--capacity", help="Rep capacity use: open deals ÷ capacity, per owner."),
    ] = False,
    show_efficiency: Annotated[
        bool,
        typer.Option(
            "--efficiency", help="CAC and magic number per period (default period: quarter)."
        ),
    ] = False,
    as_of: AsOfOption = None,
    fmt: FormatOption = Format.table,
    db: DbOption = None,
) -> None:
    """Spend and activities against what they produced: cost and touches per stage entry."""
    with Workspace.open(workspace, db) as ws:
        frame, title = inputs_frame(ws, by, period, show_capacity, show_efficiency, as_of)
    emit(frame, fmt, title=title)


def inputs_frame(
    ws: Workspace,
    by: list[str] | None = None,
    period: str | None = None,
    show_capacity: bool = False,
    show_efficiency: bool = False,
    as_of: str | None = None,
) -> tuple[pd.DataFrame, str]:
    """What ``missionline inputs`` prints for these options, and its title."""
    if show_capacity and show_efficiency:
        raise MissionlineError("choose one of --capacity and --efficiency")
    if (show_capacity or show_efficiency) and by:
        raise MissionlineError("--by applies to the cost per stage, not to this view")
    if show_capacity and period:
        raise MissionlineError("--period does not apply to --capacity; use --as-of")
    if as_of and not show_capacity:
        raise MissionlineError("--as-of applies to --capacity only")
    tables, schema, plan = ws.tables(), ws.schema, ws.plan
    if show_capacity:
        return capacity(tables, schema, plan, as_of), "Rep capacity use (open deals ÷ capacity)"
    if show_efficiency:
        frame = efficiency(tables, schema, plan, period or "quarter")
        return frame, "Efficiency: CAC and magic number"
    frame = inputs(tables, schema, plan, by or ["channel"], period)
    return frame, f"{plan.company}: inputs and cost per stage"


def register_revenue_commands(app: typer.Typer) -> None:
    """Add the pipeline and inputs commands to the app."""
    app.command("pipeline")(pipeline_command)
    app.command("inputs")(inputs_command)
