"""The ``wave`` command: the revenue wave, its MQL-to-bookings lag and its collision weeks.

``--format json`` prints one object, always with every key (the lag and the collisions are
cheap to compute on the weekly aggregate)::

    {"weeks": [...], "best_lag_weeks": 12 | null, "lag_correlations": [...], "collisions": [...]}

``weeks`` holds the rows of :func:`missionline.metrics.wave.wave`, ``lag_correlations`` those
of ``wave_analysis.wave_lag`` and ``collisions`` those of
``wave_analysis.collisions``. ``--format csv`` prints one table: the weeks, or
the lag correlations with ``--lag``, or the collision weeks with ``--collisions``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer

from missionline.cli.metrics import ByOption
from missionline.cli.options import DbOption, FormatOption, WorkspaceOption
from missionline.cli.output import Format, console, emit, records
from missionline.data.schema import TABLES
from missionline.errors import MissionlineError
from missionline.metrics.wave import DEFAULT_KINDS, wave
from missionline.metrics.wave_analysis import best_lag, collisions, wave_lag
from missionline.workspace import Workspace


def wave_command(
    workspace: WorkspaceOption = Path("."),
    by: ByOption = None,
    lag: Annotated[
        bool, typer.Option("--lag", help="Show how many weeks MQL entries lead bookings.")
    ] = False,
    max_lag: Annotated[
        int,
        typer.Option(
            "--max-lag", min=0, max=520, help="The longest lag tried, in weeks (up to 520)."
        ),
    ] = 26,
    show_collisions: Annotated[
        bool,
        typer.Option("--collisions", help="Show weeks where campaign peaks meet closing crunches."),
    ] = False,
    handoff: Annotated[
        list[str] | None,
        typer.Option(
            "--handoff",
            help="The hand-off stage whose entries count as MQLs (default: the plan's "
            "last marketing stage before sales). Repeat for several.",
        ),
    ] = None,
    kind: Annotated[
        list[str] | None,
        typer.Option(
            "--kind",
            help="Opportunity kinds in pipeline and bookings (default: new and expansion; "
            "'all' for every kind). Repeat for several.",
        ),
    ] = None,
    fmt: FormatOption = Format.table,
    db: DbOption = None,
) -> None:
    """The revenue wave: marketing load, sales capacity, pipeline and bookings per week."""
    if fmt == Format.csv and lag and show_collisions:
        raise MissionlineError("--format csv prints one table: choose --lag or --collisions")
    with Workspace.open(workspace, db) as ws:
        frame, lags, hits = wave_frames(ws, by, max_lag, handoff, kind)
        company = ws.plan.company
    best = best_lag(lags)
    if fmt == Format.json:
        sys.stdout.write(json.dumps(wave_payload(frame, lags, hits), indent=2) + "\n")
        return
    if fmt == Format.csv:
        emit(lags if lag else hits if show_collisions else frame, fmt)
        return
    emit(frame, fmt, title=f"{company}: revenue wave (weekly)")
    if lag:
        emit(lags, fmt, title="MQL entries against bookings k weeks later")
        if best is None:
            console.print("MQL entries do not lead bookings at any lag tried.", highlight=False)
        else:
            console.print(f"MQL entries lead bookings by about {best} weeks.", highlight=False)
    if show_collisions:
        emit(hits, fmt, title="Campaign peaks meeting closing crunches, and idle weeks")


def wave_frames(
    ws: Workspace,
    by: list[str] | None = None,
    max_lag: int = 26,
    handoff: list[str] | None = None,
    kind: list[str] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The weeks, the lag correlations and the collision weeks for the command's options."""
    kinds = None if kind and "all" in kind else (kind or list(DEFAULT_KINDS))
    allowed = TABLES["opportunities"].column("kind").allowed
    if kinds is not None and (unknown := sorted(set(kinds) - set(allowed))):
        raise MissionlineError(
            f"unknown opportunity kind {', '.join(unknown)}; use {', '.join(allowed)} or all"
        )
    frame = wave(ws.tables(), ws.schema, ws.plan, by or [], handoff, kinds)
    return frame, wave_lag(frame, max_lag), collisions(frame)


def wave_payload(frame: pd.DataFrame, lags: pd.DataFrame, hits: pd.DataFrame) -> dict[str, Any]:
    """The JSON object of ``wave --format json`` (see the module docstring)."""
    return {
        "weeks": records(frame),
        "best_lag_weeks": best_lag(lags),
        "lag_correlations": records(lags),
        "collisions": records(hits),
    }


def register_wave_commands(app: typer.Typer) -> None:
    """Add the ``wave`` command to the app."""
    app.command("wave")(wave_command)
