"""The ``clv`` commands: fit a customer lifetime value model, and predict per customer.

Input comes from the workspace (its ``revenue`` table per account) or from one file:
``--summary`` (one row per customer), ``--transactions`` (one row per transaction) or, for the
sBG model, ``--survival`` (a cohort's customers still active per period).

``clv fit --format json`` prints one object::

    {"model": "bgnbd", "params": {...}, "std_errors": {...}, "log_likelihood": -9582.4,
     "n_customers": 2357, "converged": true}

with ``"holdout": {...}`` added when ``--holdout-end`` is given (see docs/clv.md).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import pandas as pd
import typer

from missionline.cli.clv_source import (
    FITS,
    AmountColOption,
    CalibrationEndOption,
    CustomerColOption,
    DateColOption,
    Model,
    PurchaseModel,
    Source,
    SpendModel,
    SummaryOption,
    TimeUnit,
    TimeUnitOption,
    TransactionsOption,
)
from missionline.cli.options import DbOption, FormatOption, WorkspaceOption
from missionline.cli.output import Format, console, emit, err_console, records
from missionline.cli.progress import progress_bar
from missionline.errors import MissionlineError
from missionline.models.clv import (
    FitResult,
    fit_gamma_gamma,
    fit_sbg,
    fit_sbg_contracts,
    holdout_comparison,
    predict,
    workspace_contracts,
    workspace_summary,
)
from missionline.models.clv.files import read_survival
from missionline.report.clv_section import holdout_chart
from missionline.workspace import Workspace

T = TypeVar("T")
Progress = Callable[[str, float | None], None]


def _phase(progress: Progress, label: str, work: Callable[[], T]) -> T:
    """Run ``work`` as one labelled phase of the progress display."""
    progress(label, None)
    result = work()
    progress(label, 1.0)
    return result


def _check_sbg(source: Source) -> None:
    """Refuse inputs and options the sBG model does not take."""
    if source.summary is not None or source.transactions is not None:
        raise MissionlineError("the sbg model reads --survival FILE or the workspace's contracts")
    if source.holdout_end is not None or source.calibration_end is not None:
        raise MissionlineError("--calibration-end and --holdout-end do not apply to sbg")


def _fit_sbg(source: Source, survival: Path | None) -> FitResult:
    """Fit the sBG model on a survival file or on the workspace's contracts."""
    _check_sbg(source)
    if survival is not None:
        return fit_sbg(read_survival(survival))
    with Workspace.open(source.workspace, source.db) as ws:
        return fit_sbg_contracts(workspace_contracts(ws.tables()))


def _print_fit(fit: FitResult, fmt: Format) -> None:
    """Print the fit as a table of parameters, in table or CSV format."""
    if fmt == Format.csv:
        emit(fit.table(), fmt)
        return
    state = "converged" if fit.converged else "did NOT converge (standard errors omitted)"
    emit(fit.table(), fmt, title=f"{fit.model} on {fit.n_customers:,} customers")
    console.print(f"log-likelihood {fit.log_likelihood:,.2f}; {state}", highlight=False)


def _holdout_payload(
    source: Source, comparison: pd.DataFrame, summary: pd.DataFrame
) -> dict[str, Any]:
    """The ``holdout`` part of the JSON: totals and the rows by calibration repeat purchases."""
    return {
        "calibration_end": source.calibration_end,
        "holdout_end": source.holdout_end,
        "duration": float(summary["holdout_duration"].iloc[0]),
        "actual_total": float(comparison["actual_total"].sum()),
        "predicted_total": float(comparison["predicted_total"].sum()),
        "by_frequency": records(comparison),
    }


def _check_fit(model: Model, survival: Path | None, holdout_end: str | None) -> None:
    """Refuse a survival file or a holdout the model does not take."""
    if survival is not None and model != Model.sbg:
        raise MissionlineError("--survival is the input of the sbg model: add --model sbg")
    if holdout_end is not None and model not in (Model.bgnbd, Model.pareto_nbd):
        raise MissionlineError("--holdout-end applies to the purchase models bgnbd and pareto_nbd")


def _fit_json(
    source: Source, fit: FitResult, frame: pd.DataFrame | None, comparison: pd.DataFrame | None
) -> dict[str, Any]:
    """What ``clv fit --format json`` prints: the fit, with the holdout when compared."""
    payload = fit.to_dict()
    if comparison is not None and frame is not None:
        payload["holdout"] = _holdout_payload(source, comparison, frame)
    return payload


def fit_payload(
    ws: Workspace,
    model: Model = Model.bgnbd,
    calibration_end: str | None = None,
    holdout_end: str | None = None,
    time_unit: TimeUnit = TimeUnit.W,
) -> dict[str, Any]:
    """What ``clv fit --format json`` prints for the workspace's customers (no input files)."""
    source = Source(
        ws.folder, None, None, None, None, None, None, calibration_end, time_unit.value, holdout_end
    )
    _check_fit(model, None, holdout_end)
    if model == Model.sbg:
        _check_sbg(source)
        return fit_sbg_contracts(workspace_contracts(ws.tables())).to_dict()
    frame = workspace_summary(ws.tables(), calibration_end, time_unit.value, holdout_end)
    fit = FITS[model.value](frame)
    comparison = holdout_comparison(fit, frame) if holdout_end else None
    return _fit_json(source, fit, frame, comparison)


def fit_command(
    model: Annotated[
        Model, typer.Option("--model", help="bgnbd, pareto_nbd, gamma_gamma or sbg.")
    ] = Model.bgnbd,
    workspace: WorkspaceOption = Path("."),
    summary: SummaryOption = None,
    transactions: TransactionsOption = None,
    survival: Annotated[
        Path | None,
        typer.Option(
            "--survival",
            help="For sbg: a CSV with period, alive (customers active at the start of each "
            "period; period 0 is the cohort size).",
        ),
    ] = None,
    customer_col: CustomerColOption = None,
    date_col: DateColOption = None,
    amount_col: AmountColOption = None,
    calibration_end: CalibrationEndOption = None,
    holdout_end: Annotated[
        str | None,
        typer.Option(
            "--holdout-end",
            help="Compare holdout purchases after --calibration-end up to this day with the "
            "model's prediction (bgnbd, pareto_nbd).",
        ),
    ] = None,
    time_unit: TimeUnitOption = TimeUnit.W,
    plot: Annotated[
        Path | None,
        typer.Option("--plot", help="With --holdout-end: write the comparison chart (HTML)."),
    ] = None,
    fmt: FormatOption = Format.table,
    db: DbOption = None,
) -> None:
    """Fit a CLV model: parameters, standard errors, log-likelihood, convergence."""
    source = Source(
        workspace=workspace,
        db=db,
        summary=summary,
        transactions=transactions,
        customer_col=customer_col,
        date_col=date_col,
        amount_col=amount_col,
        calibration_end=calibration_end,
        time_unit=time_unit.value,
        holdout_end=holdout_end,
    )
    source.check()
    _check_fit(model, survival, holdout_end)
    if plot is not None and holdout_end is None:
        raise MissionlineError("--plot draws the holdout comparison: add --holdout-end")
    with progress_bar() as progress:
        if model == Model.sbg:
            fit = _phase(progress, "fitting sbg", lambda: _fit_sbg(source, survival))
            frame = None
        else:
            monetary = model == Model.gamma_gamma
            frame = _phase(
                progress, "summarising customers", lambda: source.summary_frame(monetary)
            )
            fit = _phase(progress, f"fitting {model.value}", lambda: FITS[model.value](frame))
    comparison = holdout_comparison(fit, frame) if holdout_end and frame is not None else None
    if plot is not None and comparison is not None:
        holdout_chart(comparison).write_html(plot, include_plotlyjs=True)
    if fmt == Format.json:
        sys.stdout.write(json.dumps(_fit_json(source, fit, frame, comparison), indent=2) + "\n")
        return
    if fmt == Format.csv and comparison is not None:
        emit(comparison, fmt)
        return
    _print_fit(fit, fmt)
    if comparison is not None:
        emit(comparison, fmt, title="Holdout purchases by calibration repeat purchases")
        actual, predicted = comparison["actual_total"].sum(), comparison["predicted_total"].sum()
        console.print(
            f"holdout total: actual {actual:,.0f}, predicted {predicted:,.1f} "
            f"({predicted / actual - 1:+.1%})"
            if actual
            else f"predicted {predicted:,.1f}",
            highlight=False,
        )


def _quiet(label: str, done: float | None) -> None:
    """A progress display that shows nothing (the web API's)."""


def predictions(
    frame: pd.DataFrame,
    model: PurchaseModel,
    horizon: float,
    spend_model: SpendModel | None,
    discount_rate: float,
    margin: float,
    time_unit: TimeUnit,
    progress: Progress = _quiet,
) -> tuple[pd.DataFrame, FitResult, FitResult | None]:
    """Fit the purchase (and spend) model on a customer summary and predict per customer;
    return the predictions and the fitted models (what ``clv predict`` prints)."""
    fit = _phase(progress, f"fitting {model.value}", lambda: FITS[model.value](frame))
    spend = (
        _phase(progress, "fitting gamma_gamma", lambda: fit_gamma_gamma(frame))
        if spend_model is not None
        else None
    )
    result = _phase(
        progress,
        "predicting",
        lambda: predict(fit, frame, horizon, spend, discount_rate, margin, time_unit.value),
    )
    return result, fit, spend


def predict_payload(
    ws: Workspace,
    model: PurchaseModel,
    horizon: float,
    spend_model: SpendModel | None,
    discount_rate: float,
    margin: float,
    calibration_end: str | None,
    time_unit: TimeUnit,
) -> list[dict[str, Any]]:
    """What ``clv predict --format json`` prints for the workspace's customers."""
    frame = workspace_summary(ws.tables(), calibration_end, time_unit.value)
    args = (model, horizon, spend_model, discount_rate, margin, time_unit)
    return records(predictions(frame, *args)[0])


def predict_command(
    model: Annotated[
        PurchaseModel, typer.Option("--model", help="The purchase model: bgnbd or pareto_nbd.")
    ] = PurchaseModel.bgnbd,
    horizon: Annotated[
        float, typer.Option("--horizon", min=0.0, help="How far ahead, in --time-unit.")
    ] = 52.0,
    spend_model: Annotated[
        SpendModel | None,
        typer.Option("--spend-model", help="gamma_gamma: expected spend and CLV (needs amounts)."),
    ] = None,
    discount_rate: Annotated[
        float,
        typer.Option("--discount-rate", min=0.0, help="Annual discount rate for the CLV."),
    ] = 0.1,
    margin: Annotated[
        float,
        typer.Option("--margin", min=0.0, help="Share of spend that is profit (1 = revenue)."),
    ] = 1.0,
    workspace: WorkspaceOption = Path("."),
    summary: SummaryOption = None,
    transactions: TransactionsOption = None,
    customer_col: CustomerColOption = None,
    date_col: DateColOption = None,
    amount_col: AmountColOption = None,
    calibration_end: CalibrationEndOption = None,
    time_unit: TimeUnitOption = TimeUnit.W,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the predictions to this CSV file.")
    ] = None,
    fmt: FormatOption = Format.table,
    db: DbOption = None,
) -> None:
    """Per customer: expected purchases over the horizon, P(alive), expected spend and CLV."""
    source = Source(
        workspace=workspace,
        db=db,
        summary=summary,
        transactions=transactions,
        customer_col=customer_col,
        date_col=date_col,
        amount_col=amount_col,
        calibration_end=calibration_end,
        time_unit=time_unit.value,
    )
    source.check()
    with progress_bar() as progress:
        monetary = spend_model is not None
        frame = _phase(progress, "summarising customers", lambda: source.summary_frame(monetary))
        result, fit, spend = predictions(
            frame, model, horizon, spend_model, discount_rate, margin, time_unit, progress
        )
    for name, fitted in (("purchase", fit), ("spend", spend)):
        if fitted is not None and not fitted.converged:
            err_console.print(f"warning: the {name} model did not converge", highlight=False)
    if out is not None:
        result.to_csv(out, index=False)
        err_console.print(f"wrote {len(result):,} customers to {out}", highlight=False)
        return
    unit = "weeks" if time_unit == TimeUnit.W else "days"
    emit(result, fmt, title=f"{model.value}: predictions over {horizon:g} {unit}")


clv_app = typer.Typer(
    help="Customer lifetime value: fit BG/NBD, Pareto/NBD, Gamma-Gamma or sBG; predict.",
    no_args_is_help=True,
)
clv_app.command("fit")(fit_command)
clv_app.command("predict")(predict_command)


def register_clv_commands(app: typer.Typer) -> None:
    """Add the ``clv fit`` and ``clv predict`` commands to the app."""
    app.add_typer(clv_app, name="clv")
