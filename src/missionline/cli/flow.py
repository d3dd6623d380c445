"""Flow commands: ``velocity`` (time in stage, stalled records, time to won) and ``leakage``.

Both print one frame, in the chosen format (JSON: a list of row objects):

* ``missionline velocity``: one row per pipeline stage (and group); ``--stalled`` instead lists
  the stalled records, longest in their stage first (a to-do list); ``--to-won`` instead gives
  the time from the start of the journey (or ``--from`` a stage) to won.
* ``missionline leakage``: one row per pipeline stage (and group); ``--reasons`` instead breaks
  the direct leaks down by exit and reason.

``--threshold STAGE=DURATION`` (repeatable, e.g. ``mql=7d``) replaces a stage's default stall
threshold (its p90 time in stage); ``--as-of`` measures as at an earlier moment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from missionline.cli.metrics import ByOption, PeriodOption
from missionline.cli.options import DbOption, FormatOption, WorkspaceOption, parse_as_of
from missionline.cli.output import Format, emit
from missionline.errors import MissionlineError
from missionline.metrics.leakage import leakage, reasons
from missionline.metrics.periods import parse_duration_days
from missionline.metrics.velocity import stalled, time_to_won, velocity
from missionline.workspace import Workspace

ThresholdOption = Annotated[
    list[str] | None,
    typer.Option(
        "--threshold",
        help="A stage's stall threshold, e.g. mql=7d (default: the stage's p90 time in stage). "
        "Repeat for several stages.",
    ),
]
AsOfOption = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        help="Measure as at this moment, e.g. 2024-03-31 (default: the latest stage entry); "
        "later events are ignored.",
    ),
]


def parse_thresholds(items: list[str] | None) -> dict[str, float] | None:
    """Parse ``--threshold stage=duration`` options into days per stage."""
    if not items:
        return None
    out: dict[str, float] = {}
    for item in items:
        stage, sep, duration = item.partition("=")
        if not sep or not stage.strip():
            raise MissionlineError(
                f"invalid --threshold {item!r}; write a stage and a duration, e.g. mql=7d"
            )
        out[stage.strip()] = parse_duration_days(duration)
    return out


def velocity_command(
    workspace: WorkspaceOption = Path("."),
    by: ByOption = None,
    period: PeriodOption = None,
    show_stalled: Annotated[
        bool,
        typer.Option("--stalled", help="List the stalled records, longest in their stage first."),
    ] = False,
    to_won: Annotated[
        bool,
        typer.Option("--to-won", help="Show the time from the start of the journey to won."),
    ] = False,
    from_stage: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="With --to-won: start at the first entry into this stage "
            "(default: the first main-path entry of the journey).",
        ),
    ] = None,
    threshold: ThresholdOption = None,
    as_of: AsOfOption = None,
    fmt: FormatOption = Format.table,
    db: DbOption = None,
) -> None:
    """Time in stage per pipeline stage (median, p90, mean) and the records stalled in each."""
    with Workspace.open(workspace, db) as ws:
        frame, title = velocity_frame(
            ws, by, period, show_stalled, to_won, from_stage, threshold, as_of
        )
        emit(frame, fmt, title=title)


def velocity_frame(
    ws: Workspace,
    by: list[str] | None = None,
    period: str | None = None,
    show_stalled: bool = False,
    to_won: bool = False,
    from_stage: str | None = None,
    threshold: list[str] | None = None,
    as_of: str | None = None,
) -> tuple[pd.DataFrame, str]:
    """What ``missionline velocity`` prints for these options, and its title."""
    if show_stalled and to_won:
        raise MissionlineError("--stalled and --to-won show different lists; use one of them")
    if show_stalled and (by or period):
        raise MissionlineError("--stalled lists records; it takes no --by or --period")
    if from_stage is not None and not to_won:
        raise MissionlineError("--from applies to the time to won; add --to-won")
    if to_won and (threshold or as_of):
        raise MissionlineError("--to-won takes no --threshold or --as-of")
    limits = parse_thresholds(threshold)
    moment = parse_as_of(as_of)
    tables, schema, plan = ws.tables(), ws.schema, ws.plan
    if show_stalled:
        frame = stalled(tables, schema, plan, limits, moment)
        return frame, "Stalled records (longest in their stage first)"
    if to_won:
        return time_to_won(tables, schema, plan, by or [], period, from_stage), "Time to won"
    frame = velocity(tables, schema, plan, by or [], period, limits, moment)
    return frame, f"{plan.company}: time in stage (days)"


def leakage_command(
    workspace: WorkspaceOption = Path("."),
    by: ByOption = None,
    period: PeriodOption = None,
    show_reasons: Annotated[
        bool, typer.Option("--reasons", help="Break the leaks down by exit and reason.")
    ] = False,
    threshold: ThresholdOption = None,
    as_of: AsOfOption = None,
    fmt: FormatOption = Format.table,
    db: DbOption = None,
) -> None:
    """Where records leave each pipeline stage (exits, open, stalled) and how many come back."""
    with Workspace.open(workspace, db) as ws:
        frame, title = leakage_frame(ws, by, period, show_reasons, threshold, as_of)
        emit(frame, fmt, title=title)


def leakage_frame(
    ws: Workspace,
    by: list[str] | None = None,
    period: str | None = None,
    show_reasons: bool = False,
    threshold: list[str] | None = None,
    as_of: str | None = None,
) -> tuple[pd.DataFrame, str]:
    """What ``missionline leakage`` prints for these options, and its title."""
    if show_reasons and threshold:
        raise MissionlineError("--reasons counts exits only; it takes no --threshold")
    limits = parse_thresholds(threshold)
    moment = parse_as_of(as_of)
    tables, schema, plan = ws.tables(), ws.schema, ws.plan
    if show_reasons:
        return reasons(tables, schema, plan, by or [], period, moment), "Leaks by exit and reason"
    frame = leakage(tables, schema, plan, by or [], period, limits, moment)
    return frame, f"{plan.company}: leakage and recycle"


def register_flow_commands(app: typer.Typer) -> None:
    """Add the ``velocity`` and ``leakage`` commands to the app."""
    app.command("velocity")(velocity_command)
    app.command("leakage")(leakage_command)
