"""Options shared by every command."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from missionline.cli.output import Format
from missionline.errors import MissionlineError

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


def parse_as_of(text: str | None) -> datetime | None:
    """Parse ``--as-of``: a date (midnight UTC) or an ISO date and time (UTC when no zone)."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise MissionlineError(
            f"invalid --as-of {text!r}; write a date such as 2024-03-31 or 2024-03-31T08:00"
        ) from None
    if moment.tzinfo is not None:  # the data are naive UTC: convert, then drop the zone
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment
