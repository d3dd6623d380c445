"""The ``customers top`` and ``segments`` commands: who matters per market, and where to play.

``customers top --format json`` prints the list of rows of
:func:`missionline.customers.top_customers`. ``segments --format json`` prints one object::

    {"formula": "score = ...", "segments": [...], "sensitivity": [...], "findings": [...]}

with the rows of :func:`missionline.customers.segment_priorities` (see docs/customers.md).
``segments --format csv`` prints the segment table only.
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from missionline.cli.options import DbOption, FormatOption, WorkspaceOption, parse_as_of
from missionline.cli.output import Format, console, emit, records
from missionline.cli.progress import progress_bar
from missionline.customers import segment_priorities, top_customers
from missionline.workspace import Workspace

AsOfOption = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        help="Measure as of this date or time (UTC; a date means its midnight). "
        "Default: the end of the data.",
    ),
]
# Columns the table format leaves out of ``customers top`` to fit a terminal.
TABLE_DETAIL = ["name", "realised_value", "predicted_value", "arr", "renewal_probability"]


class Per(StrEnum):
    """What ``customers top`` ranks within."""

    market = "market"
    segment = "segment"


def top_command(
    workspace: WorkspaceOption = Path("."),
    per: Annotated[Per, typer.Option("--per", help="Rank within each market or segment.")] = (
        Per.market
    ),
    n: Annotated[
        int, typer.Option("-n", "--top", min=1, help="Customers (and prospects) per group.")
    ] = 10,
    horizon_years: Annotated[
        int,
        typer.Option("--horizon-years", min=1, help="Years of predicted value in the CLV."),
    ] = 3,
    as_of: AsOfOption = None,
    fmt: FormatOption = Format.table,
    db: DbOption = None,
) -> None:
    """Top customers per market by lifetime value, with the next move (acquire, keep, expand)."""
    moment = parse_as_of(as_of)
    with Workspace.open(workspace, db) as ws, progress_bar() as progress:
        progress("valuing accounts", None)
        frame = top_customers(ws.tables(), ws.schema, ws.plan, per.value, n, horizon_years, moment)
        progress("valuing accounts", 1.0)
        company = ws.plan.company
    if fmt == Format.table:  # terminal-wide; json and csv carry every column
        frame = frame.drop(columns=TABLE_DETAIL)
    emit(frame, fmt, title=f"{company}: top {n} customers and prospects per {per.value}")


def segments_command(
    workspace: WorkspaceOption = Path("."),
    as_of: AsOfOption = None,
    fmt: FormatOption = Format.table,
    db: DbOption = None,
) -> None:
    """Markets and segments by expected value per unit of sales and marketing effort."""
    moment = parse_as_of(as_of)
    with Workspace.open(workspace, db) as ws, progress_bar() as progress:
        progress("scoring segments", None)
        result = segment_priorities(ws.tables(), ws.schema, ws.plan, moment)
        progress("scoring segments", 1.0)
        company = ws.plan.company
    if fmt == Format.json:
        payload = {
            "formula": result.formula,
            "segments": records(result.table),
            "sensitivity": records(result.sensitivity),
            "findings": [finding.to_dict() for finding in result.findings],
        }
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
        return
    emit(result.table, fmt, title=f"{company}: segment priorities")
    if fmt == Format.csv:
        return
    console.print(result.formula, highlight=False)
    emit(result.sensitivity, fmt, title="Sensitivity: elasticity, and rank with each input ±20%")
    for finding in result.findings:
        console.print(f"finding: {finding.message}", highlight=False)


customers_app = typer.Typer(
    help="Customers: the top customers per market with the next move.", no_args_is_help=True
)
customers_app.command("top")(top_command)


def register_customer_commands(app: typer.Typer) -> None:
    """Add the ``customers top`` and ``segments`` commands to the app."""
    app.add_typer(customers_app, name="customers")
    app.command("segments")(segments_command)
