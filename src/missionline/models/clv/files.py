"""Read the CLV input files (summary, transactions, survival); errors name file:line:column.

Every file is CSV with a header line; its rows are numbered as the file's lines (the header is
line 1), so that each problem points at the line to fix.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from missionline.errors import MissionlineError, Problem
from missionline.models.clv.summary import DateLike, summarise_transactions
from missionline.models.clv.validation import (
    SUMMARY_COLUMNS,
    check_summary,
    check_survival,
    require_columns,
)


def read_csv(path: Path, what: str) -> pd.DataFrame:
    """Read a CSV file as text, indexed by line number (blank lines kept, so numbers match)."""
    if not path.is_file():
        raise MissionlineError(f"{path}: no such {what} file")
    try:
        frame = pd.read_csv(path, dtype=str, skip_blank_lines=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise MissionlineError(f"{path}: cannot read the {what} as CSV: {exc}") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    frame.index = frame.index + 2
    return frame


def read_summary(path: Path, monetary: bool = False) -> pd.DataFrame:
    """Read a summary file: ``customer_id, frequency, recency, T`` (and ``monetary_value``)."""
    frame = read_csv(path, "summary")
    columns = ["customer_id", *SUMMARY_COLUMNS] + (["monetary_value"] if monetary else [])
    require_columns(frame, columns, "summary", str(path))
    ids = frame["customer_id"]
    repeated = ids.duplicated(keep="first") & ids.notna()
    missing = ids.isna()
    if repeated.any() or missing.any():
        problems = [
            Problem("missing customer id", str(path), int(line), "customer_id")
            for line in frame.index[missing.to_numpy()][:50]
        ] + [
            Problem(
                f"customer {ids[line]} is on an earlier line", str(path), int(line), "customer_id"
            )
            for line in frame.index[repeated.to_numpy()][:50]
        ]
        raise MissionlineError(f"{path}: each customer needs one row", problems)
    checked = check_summary(frame, str(path), monetary)
    return checked[columns].reset_index(drop=True)


def read_transactions(
    path: Path,
    customer: str,
    date: str,
    amount: str | None,
    calibration_end: DateLike,
    time_unit: str,
    holdout_end: DateLike | None = None,
) -> pd.DataFrame:
    """Read a transaction log (one row per transaction) and summarise it per customer."""
    frame = read_csv(path, "transactions")
    return summarise_transactions(
        frame, customer, date, amount, calibration_end, time_unit, holdout_end, source=str(path)
    )


def read_survival(path: Path) -> pd.DataFrame:
    """Read a cohort's survival file: ``period, alive`` (period 0 holds the cohort size)."""
    return check_survival(read_csv(path, "survival table"), str(path))
