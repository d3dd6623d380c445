"""The ``initiatives`` command: the initiative register (purpose, money, status and evidence).

``--format json`` prints a list with one object per plan initiative, in plan order::

    [{"initiative", "name", "function", "objectives": [...], "success_factors": [...],
      "hypothesis", "owner", "budget", "spend", "budget_used", "over_budget", "status",
      "experiments": [...], "verdicts": [...], "attributed_conversions",
      "attributed_pipeline", "attributed_revenue", "roi"}, ...]

Lists are JSON arrays; the table and CSV formats join them with ", ". The terminal table
leaves out name, hypothesis, owner and success_factors for width.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from missionline.cli.options import DbOption, FormatOption, WorkspaceOption, parse_as_of
from missionline.cli.output import Format, emit
from missionline.cli.progress import progress_bar
from missionline.models.attribution.credit import MODELS
from missionline.models.initiatives import initiative_register, joined_lists
from missionline.workspace import Workspace

# The attribution models by name (``--model all`` of ``attribution`` has no meaning here).
RegisterModel = StrEnum("RegisterModel", {m: m for m in MODELS})  # type: ignore[misc]
# Left out of the terminal table for width (JSON and CSV have every column).
TABLE_HIDDEN = ["name", "hypothesis", "owner", "success_factors"]


def initiatives_command(
    workspace: WorkspaceOption = Path("."),
    model: Annotated[
        RegisterModel,
        typer.Option("--model", "-m", help="The attribution model that credits initiatives."),
    ] = RegisterModel.markov,  # type: ignore[attr-defined]
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Date the statuses and verdicts on this day (default: the latest stage entry).",
        ),
    ] = None,
    fmt: FormatOption = Format.table,
    db: DbOption = None,
) -> None:
    """List each initiative with its objective, budget, spend, status, verdicts and ROI."""
    moment = parse_as_of(as_of)
    with progress_bar() as progress, Workspace.open(workspace, db) as ws:
        progress("building the initiative register", None)
        frame = initiative_register(ws.tables(), ws.schema, ws.plan, model.value, moment)
        progress("building the initiative register", 1.0)
        company = ws.plan.company
    # JSON keeps the lists as arrays; a table or CSV cell needs one string.
    if fmt == Format.json:
        shown = frame
    elif fmt == Format.csv:
        shown = joined_lists(frame)
    else:
        shown = joined_lists(frame).drop(columns=TABLE_HIDDEN)
    emit(shown, fmt, title=f"{company}: initiative register ({model.value})")


def register_initiative_commands(app: typer.Typer) -> None:
    """Add the ``initiatives`` command to the app."""
    app.command("initiatives")(initiatives_command)
