"""``missionline plan``: check the plan, print its JSON Schema."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from missionline.cli.options import DbOption, FormatOption, WorkspaceOption
from missionline.cli.output import Format, console
from missionline.plan.check import PlanCheck, check_plan
from missionline.plan.schema import plan_json_schema
from missionline.workspace import PLAN_FILE, plan_context

plan_app = typer.Typer(
    help="Check the mission plan and print its JSON Schema.", no_args_is_help=True
)


def _print_findings(result: PlanCheck) -> None:
    for finding in result.findings:
        where = ":".join(str(p) for p in (finding.file, finding.line, finding.column) if p)
        style = "bold red" if finding.severity == "error" else "yellow"
        line = Text(f"{finding.severity}: ", style=style) + Text(f"{where}: ")
        line += Text(f"[{finding.rule}] " if finding.rule != "schema" else "") + Text(
            finding.message
        )
        console.print(line, soft_wrap=True)
    console.print(f"{len(result.errors)} errors, {len(result.warnings)} warnings", highlight=False)


@plan_app.command("check")
def check(
    workspace: WorkspaceOption = Path("."),
    strict: Annotated[bool, typer.Option(help="Exit 1 when there are warnings.")] = False,
    fmt: FormatOption = Format.table,
    db: DbOption = None,
) -> None:
    """Validate the plan: schema, references, alignment rules and (with data) spend.

    Exit status: 0 clean, 1 warnings only with --strict, 2 errors.
    """
    path = workspace / PLAN_FILE
    result = check_plan(path)
    if result.plan is not None:
        result = check_plan(path, plan_context(workspace, result.plan, db))
    if fmt == Format.json:
        sys.stdout.write(json.dumps(result.as_json(), indent=2) + "\n")
    else:
        _print_findings(result)
    if result.errors:
        raise typer.Exit(2)
    if strict and result.warnings:
        raise typer.Exit(1)


@plan_app.command("schema")
def schema(
    out: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file.")] = None,
) -> None:
    """Print the plan's JSON Schema (for editor completion and validation)."""
    text = json.dumps(plan_json_schema(), indent=2) + "\n"
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
        console.print(f"wrote {out}", highlight=False)


def register_plan_commands(app: typer.Typer) -> None:
    """Add the plan command group to the app."""
    app.add_typer(plan_app, name="plan")
