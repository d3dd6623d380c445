"""Commands that create workspaces and move data: init, import, export, generate, demo."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

from missionline.cli.options import DbOption, WorkspaceOption
from missionline.cli.output import console, err_console
from missionline.cli.progress import progress_bar
from missionline.data.importer import LoadReport
from missionline.errors import MissionlineError
from missionline.presets import preset_mapping
from missionline.workspace import PLAN_FILE, Workspace

DEMO_FOLDER = Path("missionline-demo")
DEMO_LEADS = 20_000


def print_load(report: LoadReport) -> None:
    """Summarise an import: rows inserted, updated and unchanged per table, then warnings."""
    for load in report.tables:
        console.print(
            f"{load.table:<18} {load.rows:>10,} rows: {load.inserted:,} inserted, "
            f"{load.updated:,} updated, {load.unchanged:,} unchanged",
            highlight=False,
        )
    for warning in report.warnings[:50]:
        err_console.print(f"warning: {warning}", highlight=False, markup=False)
    if len(report.warnings) > 50:
        err_console.print(f"warning: ... and {len(report.warnings) - 50} more", highlight=False)


def init(
    workspace: WorkspaceOption = Path("."),
    source: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="Start from an example folder, a plan file, 'demo', or a CRM preset's plan "
            "(hubspot, salesforce).",
        ),
    ] = None,
    db: DbOption = None,
) -> None:
    """Create a workspace: the plan (missionline.yaml) and the database."""
    with Workspace.init(workspace, source, db) as ws:
        console.print(
            f"created workspace {ws.folder} (plan {ws.folder / PLAN_FILE}, database {ws.db.url})",
            highlight=False,
        )


def import_(
    files: Annotated[list[Path], typer.Argument(help="CSV or Parquet files, or folders of them.")],
    workspace: WorkspaceOption = Path("."),
    mapping: Annotated[
        Path | None, typer.Option("--mapping", "-m", help="A mapping YAML for non-canonical files.")
    ] = None,
    preset: Annotated[
        str | None,
        typer.Option(
            "--preset", help="Read CRM exports with a packaged mapping: hubspot, salesforce."
        ),
    ] = None,
    replace: Annotated[
        bool, typer.Option("--replace", help="Replace the tables' contents instead of merging.")
    ] = False,
    db: DbOption = None,
) -> None:
    """Validate files and load them in one transaction (nothing is written on any error)."""
    if preset is not None:
        if mapping is not None:
            raise MissionlineError("give either --mapping or --preset, not both")
        mapping = preset_mapping(preset)
    with Workspace.open(workspace, db) as ws, progress_bar() as progress:
        report = ws.import_files(files, mapping, replace, progress)
    print_load(report)


def export(
    out: Annotated[Path, typer.Option("--output", "-o", help="The folder to write.")],
    workspace: WorkspaceOption = Path("."),
    fmt: Annotated[str, typer.Option("--format", "-f", help="parquet or csv.")] = "parquet",
    db: DbOption = None,
) -> None:
    """Write every canonical table to a folder; importing the folder restores the data."""
    with Workspace.open(workspace, db) as ws:
        for path in ws.export(out, fmt):
            console.print(f"wrote {path}", highlight=False)


def generate(
    workspace: WorkspaceOption = Path("."),
    leads: Annotated[
        int, typer.Option(min=100, help="How many people (leads) to create.")
    ] = DEMO_LEADS,
    seed: Annotated[
        int, typer.Option(help="Random seed; the same seed gives the same company.")
    ] = 7,
    fmt: Annotated[str, typer.Option("--format", "-f", help="parquet or csv.")] = "parquet",
) -> None:
    """Write a synthetic B2B company to WORKSPACE/data and its true parameters to truth.json."""
    paths = _generate(workspace, leads, seed, fmt)
    for path in paths:
        console.print(f"wrote {path}", highlight=False)


def _generate(folder: Path, leads: int, seed: int, fmt: str) -> list[Path]:
    from missionline.demo.generator import generate_company, write_company

    if fmt not in ("parquet", "csv"):
        raise typer.BadParameter("use parquet or csv", param_hint="--format")
    started = time.perf_counter()
    with progress_bar() as progress:
        company = generate_company(leads=leads, seed=seed, progress=progress)
        paths = write_company(company, folder / "data", "csv" if fmt == "csv" else "parquet")
    (folder / "data" / "truth.json").replace(folder / "truth.json")
    events = company.tables["stage_events"].num_rows
    elapsed = time.perf_counter() - started
    err_console.print(
        f"generated {leads:,} leads, {events:,} stage events in {elapsed:.1f} s "
        f"({events / max(elapsed, 1e-9):,.0f} events/s)",
        highlight=False,
    )
    return paths


def demo(
    workspace: Annotated[
        Path, typer.Option("-w", "--workspace", help="The demo workspace folder.")
    ] = DEMO_FOLDER,
    leads: Annotated[
        int, typer.Option(min=100, help="How many leads the demo company has.")
    ] = DEMO_LEADS,
    seed: Annotated[int, typer.Option(help="Random seed for the demo company.")] = 7,
) -> None:
    """Create the demo company end to end: workspace, data, import, funnel and report."""
    from missionline.cli.metrics import show_funnel
    from missionline.report.html import write_report

    folder = workspace
    if not (folder / PLAN_FILE).exists():
        Workspace.init(folder, "demo").close()
    # Another size or seed is another company: replace the data instead of merging two.
    same = _truth_matches(folder / "truth.json", leads, seed)
    _generate(folder, leads, seed, "parquet")
    with Workspace.open(folder) as ws:
        with progress_bar() as progress:
            report = ws.import_files([folder / "data"], replace=not same, progress=progress)
        print_load(report)
        show_funnel(ws)
        with progress_bar() as progress:
            out = write_report(ws, folder / "report.html", progress)
    console.print(f"\nreport written to [bold]{out}[/] — open it in a browser", highlight=False)


def _truth_matches(path: Path, leads: int, seed: int) -> bool:
    """Whether the workspace already holds the demo company of this size and seed."""
    if not path.is_file():
        return True  # nothing there yet: a plain import
    truth = json.loads(path.read_text())
    return bool(truth.get("leads") == leads and truth.get("seed") == seed)


def register_data_commands(app: typer.Typer) -> None:
    """Add the data commands to the app."""
    app.command()(init)
    app.command("import")(import_)
    app.command()(export)
    app.command()(generate)
    app.command()(demo)
