"""Options shared by every command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from missionline.cli.output import Format

WorkspaceOption = Annotated[
    Path, typer.Option("-w", "--workspace", help="The workspace folder (default: here).")
]
DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        envvar="MISSIONLINE_DB",
        help="An Ibis database URL (default: the workspace's missionline.duckdb).",
    ),
]
FormatOption = Annotated[
    Format, typer.Option("--format", "-f", help="Output format: table, json or csv.")
]
