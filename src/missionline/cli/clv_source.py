"""What ``clv fit`` and ``clv predict`` read: their options, and where the customers come from.

Customers come from the workspace (its ``revenue`` table per account) or from one file:
``--summary`` (one row per customer), ``--transactions`` (one row per transaction) or, for the
sBG model, ``--survival`` (a cohort's customers still active per period).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from missionline.errors import MissionlineError
from missionline.models.clv import (
    FitResult,
    fit_bgnbd,
    fit_gamma_gamma,
    fit_pareto_nbd,
    workspace_summary,
)
from missionline.models.clv.files import read_summary, read_transactions
from missionline.workspace import Workspace


class Model(StrEnum):
    """The models ``clv fit`` can fit."""

    bgnbd = "bgnbd"
    pareto_nbd = "pareto_nbd"
    gamma_gamma = "gamma_gamma"
    sbg = "sbg"


class PurchaseModel(StrEnum):
    """The purchase models ``clv predict`` can use."""

    bgnbd = "bgnbd"
    pareto_nbd = "pareto_nbd"


class SpendModel(StrEnum):
    """The spend models ``clv predict`` can use."""

    gamma_gamma = "gamma_gamma"


class TimeUnit(StrEnum):
    """Time units of recency, T and the horizon."""

    W = "W"
    D = "D"


FITS: dict[str, Callable[[pd.DataFrame], FitResult]] = {
    "bgnbd": fit_bgnbd,
    "pareto_nbd": fit_pareto_nbd,
    "gamma_gamma": fit_gamma_gamma,
}

SummaryOption = Annotated[
    Path | None,
    typer.Option(
        "--summary",
        help="A CSV with one row per customer: customer_id, frequency, recency, T "
        "(and monetary_value), recency and T in --time-unit.",
    ),
]
TransactionsOption = Annotated[
    Path | None,
    typer.Option(
        "--transactions",
        help="A CSV with one row per transaction; name its columns with --customer-col, "
        "--date-col and --amount-col.",
    ),
]
CustomerColOption = Annotated[
    str | None, typer.Option("--customer-col", help="The customer column of --transactions.")
]
DateColOption = Annotated[
    str | None,
    typer.Option("--date-col", help="The date column of --transactions (YYYY-MM-DD or YYYYMMDD)."),
]
AmountColOption = Annotated[
    str | None, typer.Option("--amount-col", help="The amount column of --transactions.")
]
CalibrationEndOption = Annotated[
    str | None,
    typer.Option(
        "--calibration-end",
        help="The last day of the calibration period (required with --transactions; "
        "default in the workspace: the last purchase day).",
    ),
]
TimeUnitOption = Annotated[
    TimeUnit, typer.Option("--time-unit", help="W (weeks) or D (days).", case_sensitive=False)
]


@dataclass(frozen=True)
class Source:
    """Where the customers come from: the workspace or a summary or transactions file."""

    workspace: Path
    db: str | None
    summary: Path | None
    transactions: Path | None
    customer_col: str | None
    date_col: str | None
    amount_col: str | None
    calibration_end: str | None
    time_unit: str
    holdout_end: str | None = None

    def check(self) -> None:
        """Refuse options that do not go together."""
        if self.summary is not None and self.transactions is not None:
            raise MissionlineError("choose one of --summary and --transactions")
        named = [
            o
            for o, v in (
                ("--customer-col", self.customer_col),
                ("--date-col", self.date_col),
                ("--amount-col", self.amount_col),
            )
            if v is not None
        ]
        if named and self.transactions is None:
            raise MissionlineError(f"{', '.join(named)} need --transactions")
        if self.summary is not None and (self.calibration_end or self.holdout_end):
            raise MissionlineError(
                "a --summary is already summarised: drop --calibration-end and --holdout-end"
            )
        if self.transactions is not None:
            self.transaction_columns()

    def transaction_columns(self) -> tuple[str, str, str]:
        """Return the customer and date columns and the calibration end, or say which is missing."""
        given = {
            "--customer-col": self.customer_col,
            "--date-col": self.date_col,
            "--calibration-end": self.calibration_end,
        }
        missing = [option for option, value in given.items() if value is None]
        if missing:
            raise MissionlineError(f"--transactions needs {', '.join(missing)}")
        customer, date, end = given.values()
        return str(customer), str(date), str(end)

    def summary_frame(self, monetary: bool) -> pd.DataFrame:
        """Return the customer summary (with monetary values when ``monetary``)."""
        if self.summary is not None:
            return read_summary(self.summary, monetary)
        if self.transactions is not None:
            if monetary and self.amount_col is None:
                raise MissionlineError("the spend model needs amounts: give --amount-col")
            customer, date, end = self.transaction_columns()
            return read_transactions(
                self.transactions,
                customer,
                date,
                self.amount_col,
                end,
                self.time_unit,
                self.holdout_end,
            )
        with Workspace.open(self.workspace, self.db) as ws:
            return workspace_summary(
                ws.tables(), self.calibration_end, self.time_unit, self.holdout_end
            )
