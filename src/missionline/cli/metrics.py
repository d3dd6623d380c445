"""Metric commands: each prints a table, JSON or CSV computed by the Python API."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from missionline.cli.options import DbOption, FormatOption, WorkspaceOption
from missionline.cli.output import Format, console, emit, records
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
    window = parse_duration_days(within) if within else None
    with Workspace.open(workspace, db) as ws:
        frame = ws.funnel(by or [], period, basis, window)  # type: ignore[arg-type]
        emit(frame, fmt, title=f"{ws.plan.company}: funnel ({basis} basis)")


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
        frame = ws.verify(by or [], period)
        bad = ws.offenders(sample) if sample else None
    if fmt == Format.json:
        payload = {
            "conformance": records(frame),
            "offenders": records(bad) if bad is not None else [],
        }
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
        return
    emit(frame, fmt, title="Entry-rule conformance")
    if bad is not None and fmt == Format.table and len(bad):
        emit(bad, fmt, title="Records that entered without meeting the rule (sample)")


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

    with Workspace.open(workspace, db) as ws:
        path = write_report(ws, out or workspace / "report.html")
    console.print(f"report written to {path}", highlight=False)


def register_metric_commands(app: typer.Typer) -> None:
    """Add the metric commands to the app."""
    app.command()(funnel)
    app.command()(verify)
    app.command()(report)
