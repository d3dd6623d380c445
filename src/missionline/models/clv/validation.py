"""Checks on the frames the CLV models accept, with errors that name the row and the column.

A frame read from a file (see :mod:`missionline.models.clv.files`) carries the file's line
numbers as its index and the file name in ``source``; a frame built in code is named
``summary`` (or ``survival``) and its rows by their index labels.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from missionline.errors import MissionlineError, Problem

SUMMARY_COLUMNS = ("frequency", "recency", "T")
SURVIVAL_COLUMNS = ("period", "alive")
MAX_PROBLEMS = 50
# Recency and T read from files are rounded: recency may exceed T by this much.
TOLERANCE = 1e-9


class _Findings:
    """Problems found in one frame, each naming its row and column."""

    def __init__(self, frame: pd.DataFrame, source: str | None) -> None:
        self.frame = frame
        self.source = source
        self.problems: list[Problem] = []

    def add(self, mask: pd.Series | np.ndarray, column: str, message: str) -> None:
        """Record ``message`` for the rows where ``mask`` holds (up to MAX_PROBLEMS in all)."""
        labels = self.frame.index[np.asarray(mask, dtype=bool)]
        for label in labels[: max(MAX_PROBLEMS - len(self.problems), 0)]:
            if self.source is None:
                self.problems.append(Problem(f"row {label}: {message}", column=column))
            else:
                self.problems.append(Problem(message, self.source, int(label), column))

    def numeric(self, column: str) -> pd.Series:
        """Return ``column`` as floats; record the cells that are missing or not numbers."""
        raw = self.frame[column]
        values = pd.to_numeric(raw, errors="coerce").astype(np.float64)
        self.add(raw.isna().to_numpy(), column, "missing value; expected a number")
        self.add((values.isna() & raw.notna()).to_numpy(), column, "not a number")
        self.add(np.isinf(values.to_numpy()), column, "not a finite number")
        return values

    def raise_if_any(self, what: str) -> None:
        """Raise one MissionlineError listing the problems, if there are any."""
        if self.problems:
            where = self.source or what
            raise MissionlineError(f"{where}: the {what} has invalid values", self.problems)


def require_columns(
    frame: pd.DataFrame, columns: Sequence[str], what: str, source: str | None
) -> None:
    """Raise an error naming the missing columns and the expected ones."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise MissionlineError(
            f"{source or what}: missing column {', '.join(missing)}; "
            f"the {what} needs the columns {', '.join(columns)}"
        )


def check_summary(
    summary: pd.DataFrame, source: str | None = None, monetary: bool = False
) -> pd.DataFrame:
    """Check a customer summary and return its numeric columns as floats.

    ``frequency`` is a whole number >= 0 (repeat purchases), ``recency`` and ``T`` are >= 0 with
    recency <= T, recency is 0 without repeat purchases; with ``monetary``, ``monetary_value``
    is a number >= 0 wherever frequency > 0.
    """
    columns = [*SUMMARY_COLUMNS, "monetary_value"] if monetary else list(SUMMARY_COLUMNS)
    require_columns(summary, columns, "summary", source)
    if all(pd.api.types.is_float_dtype(summary[c]) for c in columns) and _valid(summary, columns):
        return summary  # the common case (a summary built by missionline): one vectorised pass
    findings = _Findings(summary, source)
    values = {c: findings.numeric(c) for c in columns}
    x, t_x, T = values["frequency"], values["recency"], values["T"]
    findings.add((x < 0) | (x % 1 > 0), "frequency", "expected a whole number >= 0")
    findings.add(t_x < 0, "recency", "expected a number >= 0")
    findings.add(T < 0, "T", "expected a number >= 0")
    findings.add(t_x > T + TOLERANCE, "recency", "recency is greater than T")
    findings.add((x == 0) & (t_x > 0), "recency", "recency must be 0 when frequency is 0")
    if monetary:
        m = values["monetary_value"]
        findings.add((x > 0) & (m < 0), "monetary_value", "expected a number >= 0")
    findings.raise_if_any("summary")
    out = summary.copy()
    for column, series in values.items():
        out[column] = series
    return out


def _valid(summary: pd.DataFrame, columns: Sequence[str]) -> bool:
    """True when float columns pass every summary check (a fast path without problem lists)."""
    x, t_x, T = (summary[c].to_numpy() for c in SUMMARY_COLUMNS)
    ok = np.isfinite(x) & np.isfinite(t_x) & np.isfinite(T) & (x >= 0) & (x % 1 == 0)
    ok &= (t_x >= 0) & (T >= 0) & (t_x <= T + TOLERANCE) & ((x > 0) | (t_x == 0))
    if "monetary_value" in columns:
        m = summary["monetary_value"].to_numpy()
        ok &= (x == 0) | (np.isfinite(m) & (m >= 0))
    return bool(ok.all())


def check_survival(survival: pd.DataFrame, source: str | None = None) -> pd.DataFrame:
    """Check a cohort's survival table (``period``, ``alive``) and return it as whole numbers.

    Periods are 0, 1, 2, ... in order (at least two); ``alive`` is the number of customers still
    active at the start of each period: positive at period 0, never increasing.
    """
    require_columns(survival, SURVIVAL_COLUMNS, "survival table", source)
    findings = _Findings(survival, source)
    period, alive = findings.numeric("period"), findings.numeric("alive")
    expected = np.arange(len(survival))
    findings.add(
        period.to_numpy() != expected, "period", "expected the periods 0, 1, 2, ... in order"
    )
    findings.add((alive < 0) | (alive % 1 > 0), "alive", "expected a whole number >= 0")
    increase = np.r_[False, np.diff(alive.to_numpy()) > 0]
    findings.add(increase, "alive", "more customers alive than in the period before")
    findings.raise_if_any("survival table")
    if len(survival) < 2 or not alive.iloc[0] > 0:
        raise MissionlineError(
            f"{source or 'survival table'}: expected a cohort size (alive > 0 at period 0) and "
            "at least one later period"
        )
    return pd.DataFrame({"period": period.astype(int), "alive": alive.astype(int)})
