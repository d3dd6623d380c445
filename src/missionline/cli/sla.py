"""The ``sla`` command: hand-off response times, SLA compliance, acceptance and open breaches.

``--format json`` prints a list of objects, one per SLA stage and group, with the keys
``stage``, ``measured_from``, ``until``, ``sla_hours``, ``handed_over``, ``answered``,
``within_sla``, ``share_within_sla``, ``median_hours``, ``p90_hours``, ``accepted``,
``acceptance_rate``, ``rejected``, ``rejection_rate``, then one key per ``--by`` dimension and
``period`` when ``--period`` is given (the table view leaves out a few counts to fit a
terminal). ``--rejections`` prints the breakdown by exit stage and
reason instead; ``--open`` the hand-offs overdue right now (see
:mod:`missionline.metrics.sla` for every definition).
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
from missionline.metrics.sla import open_breaches, rejections, sla
from missionline.workspace import Workspace


def sla_command(
    workspace: WorkspaceOption = Path("."),
    by: ByOption = None,
    period: PeriodOption = None,
    open_: Annotated[
        bool,
        typer.Option("--open", help="List the hand-offs waiting beyond their SLA now, by owner."),
    ] = False,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="With --open: the moment to measure at, e.g. 2024-03-31 "
            "(default: the latest timestamp in the data).",
        ),
    ] = None,
    show_rejections: Annotated[
        bool, typer.Option("--rejections", help="Show rejected hand-offs by exit and reason.")
    ] = False,
    fmt: FormatOption = Format.table,
    db: DbOption = None,
) -> None:
    """Hand-offs: response time, share within SLA, acceptance and rejection per SLA stage."""
    with Workspace.open(workspace, db) as ws:
        frame, title = sla_frame(ws, by, period, open_, as_of, show_rejections)
    if fmt == Format.table and not (open_ or show_rejections):
        # a terminal-wide view; json and csv carry every column
        frame = frame.drop(columns=["measured_from", "answered", "accepted", "rejected"])
    emit(frame, fmt, title=title)


def sla_frame(
    ws: Workspace,
    by: list[str] | None = None,
    period: str | None = None,
    open_: bool = False,
    as_of: str | None = None,
    show_rejections: bool = False,
) -> tuple[pd.DataFrame, str]:
    """What ``missionline sla`` prints for these options (every column), and its title."""
    if as_of is not None and not open_:
        raise MissionlineError("--as-of applies to the open-breach list; add --open")
    if open_ and (by or period or show_rejections):
        raise MissionlineError("--open lists records; it takes no --by, --period or --rejections")
    moment = parse_as_of(as_of)
    tables, schema, plan = ws.tables(), ws.schema, ws.plan
    if not any(s.sla for s in plan.lifecycle.stages):
        raise MissionlineError(
            "no stage in the plan has an sla; add e.g. `sla: {within: 24h}` to a stage"
        )
    if open_:
        return open_breaches(tables, schema, plan, moment), "Hand-offs waiting beyond their SLA"
    if show_rejections:
        return rejections(tables, schema, plan, by or [], period), "Rejections"
    return sla(tables, schema, plan, by or [], period), "Hand-offs and SLAs (calendar hours)"


def register_sla_commands(app: typer.Typer) -> None:
    """Add the ``sla`` command to the app."""
    app.command("sla")(sla_command)
