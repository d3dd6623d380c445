"""Printing results as a rich table, JSON or CSV (``--format``)."""

from __future__ import annotations

import json
import math
import sys
from datetime import date, datetime
from enum import StrEnum
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table as RichTable

# Piped output (a file, a pager, CI logs) gets wide tables instead of rich's 80-column default.
console = Console(width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 160)


class Format(StrEnum):
    """Output formats for commands that print results."""

    table = "table"
    json = "json"
    csv = "csv"


def _plain(value: Any) -> Any:
    """Convert a cell to a JSON-ready value (NaN and NaT become null, dates ISO strings)."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, datetime | date | pd.Timestamp):
        return value.isoformat()
    if hasattr(value, "item"):
        return _plain(value.item())
    return value


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Return the rows of ``frame`` as JSON-ready dicts."""
    columns = list(frame.columns)
    return [
        {c: _plain(v) for c, v in zip(columns, row, strict=True)}
        for row in frame.itertuples(index=False, name=None)
    ]


def _cell(value: Any) -> str:
    value = _plain(value)
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if value.is_integer() or abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:,.3f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def emit(frame: pd.DataFrame, fmt: Format, title: str | None = None) -> None:
    """Print ``frame`` in the requested format to standard output."""
    if fmt == Format.json:
        sys.stdout.write(json.dumps(records(frame), indent=2) + "\n")
    elif fmt == Format.csv:
        frame.to_csv(sys.stdout, index=False)
    else:
        table = RichTable(title=title, header_style="bold")
        for column in frame.columns:
            numeric = pd.api.types.is_numeric_dtype(frame[column])
            table.add_column(str(column), justify="right" if numeric else "left")
        for row in frame.itertuples(index=False, name=None):
            table.add_row(*(_cell(v) for v in row))
        console.print(table)
