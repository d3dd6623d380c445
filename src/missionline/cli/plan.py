"""``missionline plan``: check the plan, print its JSON Schema."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer
from rich.text import Text

from missionline.alignment.linkage import Linkage
from missionline.cli.options import DbOption, FormatOption, WorkspaceOption
from missionline.cli.output import Format, console, emit
from missionline.plan.check import PlanCheck, check_plan
from missionline.plan.schema import plan_json_schema
from missionline.workspace import PLAN_FILE, Workspace, plan_context

plan_app = typer.Typer(
    help="The mission plan: check it, print its schema, trace linkage, draw the mission map.",
    no_args_is_help=True,
)


def _print_findings(result: PlanCheck) -> None:
    for finding in result.findings:
        where = ":".join(str(p) for p in (finding.file, finding.line, finding.column) if p)
        style = "bold red" if finding.severity == "error" else "yellow"
        line = Text(f"{finding.severity}: ", style=style) + Text(f"{where}: " if where else "")
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
    result = checked_plan(workspace, db)
    if fmt == Format.json:
        sys.stdout.write(json.dumps(result.as_json(), indent=2) + "\n")
    elif fmt == Format.csv:
        findings = result.as_json()
        rows = [
            {"severity": kind[:-1], **f} for kind in ("errors", "warnings") for f in findings[kind]
        ]
        columns = ["severity", "rule", "message", "file", "line", "column", "object"]
        emit(pd.DataFrame(rows, columns=columns), fmt)
    else:
        _print_findings(result)
    if result.errors:
        raise typer.Exit(2)
    if strict and result.warnings:
        raise typer.Exit(1)


def checked_plan(workspace: Path, db: str | None = None) -> PlanCheck:
    """Check the workspace's plan with what its data can tell (as ``plan check`` does)."""
    path = workspace / PLAN_FILE
    result = check_plan(path)
    if result.plan is not None:
        result = check_plan(path, plan_context(workspace, result.plan, db))
    return result


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


@plan_app.command("linkage")
def linkage_command(
    workspace: WorkspaceOption = Path("."),
    fmt: FormatOption = Format.table,
    db: DbOption = None,
) -> None:
    """Initiatives, budget and spend per success factor and function; orphans; unlinked spend."""
    with Workspace.open(workspace, db) as ws:
        result = ws.linkage()
    if fmt == Format.json:
        sys.stdout.write(json.dumps(linkage_payload(result), indent=2) + "\n")
        return
    levels = (
        ("success_factor", "Success factors", result.success_factors),
        ("function", "Functions", result.functions),
    )
    frames = [
        pd.DataFrame(
            [{"level": level, **asdict(r), "initiatives": len(r.initiatives)} for r in rows]
        )
        for level, _, rows in levels
    ]
    if fmt == Format.csv:  # one CSV: the level column tells the two parts apart
        emit(pd.concat(frames, ignore_index=True), fmt)
        return
    for frame, (_, title, _) in zip(frames, levels, strict=True):
        emit(frame.drop(columns="level"), fmt, title=title)
    if fmt == Format.table:
        share = result.unlinked_spend_share
        console.print(
            f"orphan initiatives: {', '.join(result.orphan_initiatives) or 'none'}", highlight=False
        )
        console.print(
            f"unowned outcomes: {', '.join(result.unowned_outcomes) or 'none'}", highlight=False
        )
        if share is not None:
            console.print(
                f"spend with no line to a success factor: {share:.1%} of all spend "
                f"({result.unlinked_initiative_spend_share or 0:.1%} of initiative "
                "spend)",
                highlight=False,
            )
        for note in result.notes:
            console.print(f"note: {note}", highlight=False)


def linkage_payload(result: Linkage) -> dict[str, Any]:
    """The JSON object of ``plan linkage --format json``."""
    return {
        "success_factors": [asdict(r) for r in result.success_factors],
        "functions": [asdict(r) for r in result.functions],
        "orphan_initiatives": result.orphan_initiatives,
        "unowned_outcomes": result.unowned_outcomes,
        "total_spend": result.total_spend,
        "unlinked_spend_share": result.unlinked_spend_share,
        "unlinked_initiative_spend_share": result.unlinked_initiative_spend_share,
        "notes": result.notes,
    }


@plan_app.command("map")
def map_command(
    out: Annotated[Path, typer.Option("--output", "-o", help="map.html, map.svg or map.png")],
    workspace: WorkspaceOption = Path("."),
    db: DbOption = None,
) -> None:
    """Draw the mission map: mission, success factors, objectives by function, initiatives."""
    from missionline.report.mission_map import write_map

    with Workspace.open(workspace, db) as ws:
        path = write_map(ws.mission_map(), out)
    console.print(f"mission map written to {path}", highlight=False)


def register_plan_commands(app: typer.Typer) -> None:
    """Add the plan command group to the app."""
    app.add_typer(plan_app, name="plan")
