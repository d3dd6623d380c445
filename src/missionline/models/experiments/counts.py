"""Per-variant counts kept outside the workspace (``--counts FILE.csv``): read and check them.

One row per variant. Conversions: ``variant, units, conversions``. Values: ``variant, units,
sum, sum_squares`` (the sum of the outcome and of its squares over the units) and, optionally,
``conversions`` (units with a non-zero value). Either kind may add ``weight``: the planned share
of units of the variant, for the sample-ratio check (default: equal shares).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from missionline.errors import MissionlineError, Problem
from missionline.models.experiments.result import MetricKind
from missionline.models.experiments.stats import VariantStats

REQUIRED: dict[str, tuple[str, ...]] = {
    "conversion": ("variant", "units", "conversions"),
    "value": ("variant", "units", "sum", "sum_squares"),
}
OPTIONAL: dict[str, tuple[str, ...]] = {
    "conversion": ("weight",),
    "value": ("conversions", "weight"),
}


def read_counts(path: Path) -> pd.DataFrame:
    """Read a counts CSV as text cells (the checks in :func:`stats_from_counts` parse them)."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except FileNotFoundError:
        raise MissionlineError(f"{path}: no such file") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise MissionlineError(f"{path}: not a readable CSV file ({exc})") from None
    return frame


class _Checker:
    """Collects the problems of a counts table, each at its row and column."""

    def __init__(self, source: str | None) -> None:
        self.source = source
        self.problems: list[Problem] = []

    def add(self, row: int, column: str, message: str) -> None:
        """Record a problem at a row (a CSV line when read from a file) and a column."""
        line = row + 2 if self.source else row + 1  # the header is the CSV's first line
        self.problems.append(Problem(message, self.source, line, column))

    def number(self, row: int, column: str, value: Any, whole: bool = False) -> float | None:
        """Parse a cell as a finite number (a whole one when asked), or record why not."""
        try:
            number = float(str(value).strip())
        except ValueError:
            number = math.nan
        if not math.isfinite(number) or (whole and (number < 0 or number != int(number))):
            expected = "a whole number, 0 or more" if whole else "a number"
            self.add(row, column, f"expected {expected}, found {str(value)!r}")
            return None
        return number


def _check_row(
    check: _Checker, i: int, name: str, row: pd.Series, metric: MetricKind
) -> tuple[VariantStats, float | None] | None:
    """Check one variant's row; return its statistics and weight, or None if it has problems."""
    before = len(check.problems)
    units = check.number(i, "units", row["units"], whole=True)
    conversions = None
    if "conversions" in row.index:
        conversions = check.number(i, "conversions", row["conversions"], whole=True)
    if metric == "conversion":
        total, squares = conversions, conversions
    else:
        total = check.number(i, "sum", row["sum"])
        squares = check.number(i, "sum_squares", row["sum_squares"])
    weight = check.number(i, "weight", row["weight"]) if "weight" in row.index else None
    if weight is not None and weight <= 0:
        check.add(i, "weight", f"expected a share above 0, found {row['weight']!r}")
    if len(check.problems) > before or units is None or total is None or squares is None:
        return None
    if conversions is not None and conversions > units:
        check.add(i, "conversions", f"{conversions:.0f} conversions exceed {units:.0f} units")
    if metric == "value" and squares < (total**2 / units if units else 0.0) * (1 - 1e-9):
        check.add(i, "sum_squares", "is smaller than sum^2 / units: not a sum of squares")
    if metric == "value" and units == 0 and (total or squares):
        check.add(i, "sum", "a variant without units must have sum and sum_squares 0")
    if len(check.problems) > before:
        return None
    count = None if conversions is None else int(conversions)
    return VariantStats(name, int(units), total, squares, count), weight


def stats_from_counts(
    frame: pd.DataFrame, metric: MetricKind, source: str | None = None
) -> tuple[list[VariantStats], tuple[float, ...] | None]:
    """Check a counts table and return each variant's statistics and the planned split.

    Problems name the row (the CSV line when ``source``, the file, is given; else the 1-based
    row) and the column; all are reported at once.
    """
    if metric not in REQUIRED:
        raise MissionlineError(f"unknown metric {metric!r}; use conversion or value")
    where = source or "the counts"
    frame = frame.rename(columns=lambda c: str(c).strip().lower())
    columns = list(frame.columns)
    missing = [c for c in REQUIRED[metric] if c not in columns]
    unknown = [c for c in columns if c not in REQUIRED[metric] + OPTIONAL[metric]]
    if missing or unknown:
        expected = ", ".join(REQUIRED[metric])
        optional = ", ".join(OPTIONAL[metric])
        found = f"missing {', '.join(missing)}" if missing else f"unknown {', '.join(unknown)}"
        raise MissionlineError(
            f"{where}: columns {found}; a {metric} needs {expected} (optional: {optional})"
        )
    check = _Checker(source)
    parsed: list[tuple[VariantStats, float | None]] = []
    seen: set[str] = set()
    for i, (_, row) in enumerate(frame.iterrows()):
        name = str(row["variant"]).strip()
        if not name or name == "nan":
            check.add(i, "variant", "expected a variant name, found an empty cell")
        elif name in seen:
            check.add(i, "variant", f"variant {name!r} appears twice")
        seen.add(name)
        result = _check_row(check, i, name, row, metric)
        if result is not None:
            parsed.append(result)
    if check.problems:
        raise MissionlineError(f"{where} cannot be analysed", check.problems)
    if len(parsed) < 2:
        raise MissionlineError(f"{where}: expected a row per variant, at least two rows")
    weights = [w for _, w in parsed]
    split = tuple(w for w in weights if w is not None) if "weight" in columns else None
    return [s for s, _ in parsed], split
