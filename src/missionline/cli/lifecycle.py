"""The ``lifecycle`` command: cohort retention, NRR and GRR, churn, expansion and advocacy.

``--format json`` without ``--view`` prints one object with every view::

    {"retention": [...], "nrr": [...], "expansion": [...]}

holding the rows of :func:`missionline.metrics.lifecycle.retention`,
:func:`~missionline.metrics.lifecycle.net_revenue_retention` and
:func:`~missionline.metrics.lifecycle.expansion`; with ``--view`` it prints that view's list
of rows. ``--format csv`` prints one table, so it needs ``--view``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer

from missionline.cli.options import DbOption, FormatOption, WorkspaceOption, parse_as_of
from missionline.cli.output import Format, emit, records
from missionline.cli.progress import progress_bar
from missionline.errors import MissionlineError
from missionline.metrics.lifecycle import expansion, net_revenue_retention, retention
from missionline.workspace import Workspace


class View(StrEnum):
    """The lifecycle views ``--view`` selects."""

    retention = "retention"
    nrr = "nrr"
    expansion = "expansion"


METRICS = {View.retention: retention, View.nrr: net_revenue_retention, View.expansion: expansion}
# Columns the table format leaves out of the NRR view to fit a terminal.
NRR_DETAIL = ["measured_at", "expansion", "contraction", "churned", "arr_end"]
NRR_DETAIL += ["churned_logos", "expanded_logos"]
TITLES = {
    View.retention: "Retention by acquisition cohort and age (periods)",
    View.nrr: "Net and gross revenue retention, trailing twelve months at each period end",
    View.expansion: "Expansion and advocacy by acquisition cohort",
}


def lifecycle_frames(
    ws: Workspace,
    by: list[str] | None = None,
    period: str = "quarter",
    as_of: str | None = None,
    view: View | None = None,
    progress: Callable[[str, float | None], None] | None = None,
) -> dict[View, pd.DataFrame]:
    """The frame of each view asked for (every view when ``view`` is None)."""
    moment = parse_as_of(as_of)
    views = [view] if view is not None else list(View)
    tables, schema, plan = ws.tables(), ws.schema, ws.plan
    frames = {}
    for done, v in enumerate(views):
        if progress is not None:
            progress("lifecycle metrics", done / len(views))
        frames[v] = METRICS[v](tables, schema, plan, by or [], period, moment)
    if progress is not None:
        progress("lifecycle metrics", 1.0)
    return frames


def lifecycle_payload(frames: dict[View, pd.DataFrame], view: View | None = None) -> Any:
    """What ``--format json`` prints: one object with every view, or the one view's rows."""
    payload = {v.value: records(frame) for v, frame in frames.items()}
    return payload[view.value] if view is not None else payload


def lifecycle_command(
    workspace: WorkspaceOption = Path("."),
    by: Annotated[
        list[str] | None,
        typer.Option(
            "--by",
            help="Group customers by a column of their account: market, segment or "
            "accounts.<column>. Repeat for several.",
        ),
    ] = None,
    period: Annotated[
        str,
        typer.Option("--period", help="month, quarter or year: cohorts, ages and NRR periods."),
    ] = "quarter",
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Measure as of this date or time (UTC; a date means its midnight). "
            "Default: the midnight after the latest revenue row.",
        ),
    ] = None,
    view: Annotated[
        View | None,
        typer.Option("--view", help="Show one view: retention, nrr or expansion (default: all)."),
    ] = None,
    fmt: FormatOption = Format.table,
    db: DbOption = None,
) -> None:
    """The customer lifecycle after the sale: retention, NRR/GRR, churn, expansion, advocacy."""
    if fmt == Format.csv and view is None:
        raise MissionlineError(
            "--format csv prints one table: add --view retention, nrr or expansion"
        )
    with Workspace.open(workspace, db) as ws, progress_bar() as progress:
        plan = ws.plan
        frames = lifecycle_frames(ws, by, period, as_of, view, progress)
    if fmt == Format.json:
        sys.stdout.write(json.dumps(lifecycle_payload(frames, view), indent=2) + "\n")
        return
    for v, frame in frames.items():
        if fmt == Format.table and v == View.nrr:  # terminal-wide; json and csv carry every column
            frame = frame.drop(columns=NRR_DETAIL)
        emit(frame, fmt, title=f"{plan.company}: {TITLES[v].lower()}")


def register_lifecycle_commands(app: typer.Typer) -> None:
    """Add the ``lifecycle`` command to the app."""
    app.command("lifecycle")(lifecycle_command)
