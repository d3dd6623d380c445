"""Metric commands: each prints a table, JSON or CSV computed by the Python API."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer

from missionline.cli.options import DbOption, FormatOption, WorkspaceOption
from missionline.cli.output import Format, console, emit, records
from missionline.cli.progress import progress_bar
from missionline.metrics.periods import parse_duration_days
from missionline.workspace import Workspace

ByOption = Annotated[
    list[str] | None,
    typer.Option(
        "--by",
        help="Group by a column: channel, segment, market, owner, table.column. "
        "Repeat for several.",
    ),
]
PeriodOption = Annotated[str | None, typer.Option("--period", help="week, month, quarter or year.")]


def show_funnel(ws: Workspace) -> None:
    """Print the whole-company funnel as a table (used by the demo)."""
    emit(ws.funnel(), Format.table, title=f"{ws.plan.company}: funnel")


def funnel(
    workspace: WorkspaceOption = Path("."),
    by: ByOption = None,
    period: PeriodOption = None,
    basis: Annotated[str, typer.Option(help="cohort or period.")] = "cohort",
    within: Annotated[
        str | None, typer.Option(help="Conversion window, e.g. 90d (cohort basis).")
    ] = None,
    fmt: FormatOption = Format.table,
    db: DbOption = None,
) -> None:
    """Entries, conversion and time to the next stage, per stage in plan order."""
    with Workspace.open(workspace, db) as ws:
        frame = funnel_frame(ws, by, period, basis, within)
        emit(frame, fmt, title=f"{ws.plan.company}: funnel ({basis} basis)")


def funnel_frame(
    ws: Workspace,
    by: list[str] | None = None,
    period: str | None = None,
    basis: str = "cohort",
    within: str | None = None,
) -> pd.DataFrame:
    """The funnel as ``missionline funnel`` prints it, from the command's options."""
    window = parse_duration_days(within) if within else None
    return ws.funnel(by or [], period, basis, window)  # type: ignore[arg-type]


def verify(
    workspace: WorkspaceOption = Path("."),
    by: ByOption = None,
    period: PeriodOption = None,
    sample: Annotated[int, typer.Option(min=0, help="Offending records listed per stage.")] = 5,
    fmt: FormatOption = Format.table,
    db: DbOption = None,
) -> None:
    """How is stage progress verified? The share of entries that met the stage's entry rule."""
    with Workspace.open(workspace, db) as ws:
        frame, bad = verify_frames(ws, by, period, sample)
    if fmt == Format.json:
        sys.stdout.write(json.dumps(verify_payload(frame, bad), indent=2) + "\n")
        return
    emit(frame, fmt, title="Entry-rule conformance")
    if bad is not None and fmt == Format.table and len(bad):
        emit(bad, fmt, title="Records that entered without meeting the rule (sample)")


def verify_frames(
    ws: Workspace, by: list[str] | None = None, period: str | None = None, sample: int = 5
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Conformance per stage and (with ``sample``) the offending records, as ``verify`` shows."""
    return ws.verify(by or [], period), (ws.offenders(sample) if sample else None)


def verify_payload(frame: pd.DataFrame, bad: pd.DataFrame | None) -> dict[str, Any]:
    """The JSON object of ``verify --format json``."""
    return {"conformance": records(frame), "offenders": records(bad) if bad is not None else []}


def report(
    out: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="The HTML file (default: WORKSPACE/report.html)."),
    ] = None,
    workspace: WorkspaceOption = Path("."),
    db: DbOption = None,
) -> None:
    """Write a self-contained HTML report (charts, tables, definitions from the plan)."""
    from missionline.report.html import write_report

    with Workspace.open(workspace, db) as ws, progress_bar() as progress:
        path = write_report(ws, out or workspace / "report.html", progress)
    console.print(f"report written to {path}", highlight=False)


def register_metric_commands(app: typer.Typer) -> None:
    """Add the metric commands to the app."""
    app.command()(funnel)
    app.command()(verify)
    app.command()(report)
