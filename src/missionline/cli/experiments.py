"""``missionline experiment``: analyse an experiment, and plan one's sample size and duration.

``experiment analyze --format json`` prints the object of
:meth:`missionline.models.experiments.ExperimentResult.to_json`; ``--format csv`` prints one
row per variant. ``experiment plan --format json`` prints one object (see docs/experiments.md).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer

from missionline.cli.options import DbOption, FormatOption, WorkspaceOption
from missionline.cli.output import Format, console, emit
from missionline.cli.revenue import AsOfOption
from missionline.errors import MissionlineError
from missionline.models.experiments import (
    ExperimentResult,
    analyze_counts,
    analyze_experiment,
    duration_days,
    read_counts,
    sample_size,
    traffic_per_day,
)
from missionline.workspace import Workspace

experiment_app = typer.Typer(
    help="Experiments: analyse one (frequentist, Bayesian, sequential), plan the sample size.",
    no_args_is_help=True,
)
METRICS = ("conversion", "value")
DIRECTIONS = ("increase", "decrease")
INTERVALS = ("lift_abs_ci", "lift_rel_ci", "sequential_ci")
TABLE_COLUMNS = [
    "variant",
    "units",
    "conversions",
    "rate",
    "lift_abs",
    "lift_abs_ci",
    "lift_rel",
    "p_value",
    "chance_to_win",
    "expected_loss",
]


def variants_frame(result: ExperimentResult) -> pd.DataFrame:
    """One row per variant (the CSV output): each interval as ``_low`` and ``_high`` columns."""
    rows = []
    for row in result.to_json()["variants"]:
        flat: dict[str, Any] = {}
        for key, value in row.items():
            if key in INTERVALS:
                flat[f"{key}_low"], flat[f"{key}_high"] = value or (None, None)
            else:
                flat[key] = value
        rows.append(flat)
    return pd.DataFrame(rows)


def _table_frame(result: ExperimentResult) -> pd.DataFrame:
    """The decision columns for the table format, intervals as ``low .. high`` text."""
    frame = pd.DataFrame(result.to_json()["variants"])
    for column in INTERVALS:
        frame[column] = [_interval(v) for v in frame[column]]
    return frame[[*TABLE_COLUMNS, *(["sequential_ci"] if result.sequential else [])]]


def _interval(value: list[float | None] | None) -> str | None:
    """An interval as text, e.g. ``0.00115 .. 0.0871``."""
    if value is None or None in value:
        return None
    low, high = value
    return f"{low:.3g} .. {high:.3g}"


def _counts_result(
    counts: Path, control: str | None, metric: str, alpha: float | None, direction: str
) -> ExperimentResult:
    """Analyse a counts file: the control defaults to a variant called control, else the first."""
    if metric not in METRICS:
        raise MissionlineError(f"unknown --metric {metric!r}; use conversion or value")
    if direction not in DIRECTIONS:
        raise MissionlineError(f"unknown --direction {direction!r}; use increase or decrease")
    frame = read_counts(counts)
    if control is None:
        names = [str(v).strip() for v in frame.get("variant", pd.Series(dtype=str))]
        control = "control" if "control" in names else (names[0] if names else "control")
    return analyze_counts(
        frame,
        control,
        metric,  # type: ignore[arg-type]
        0.05 if alpha is None else alpha,
        direction,  # type: ignore[arg-type]
        str(counts),
    )


@experiment_app.command("analyze")
def analyze_command(
    experiment_id: Annotated[
        str | None,
        typer.Argument(help="The id of an experiment declared in the plan (or use --counts)."),
    ] = None,
    counts: Annotated[
        Path | None,
        typer.Option(
            "--counts",
            help="A CSV of per-variant counts kept elsewhere: variant, units, conversions "
            "(values: sum, sum_squares); optional weight.",
        ),
    ] = None,
    control: Annotated[
        str | None,
        typer.Option("--control", help="With --counts: the control variant (default: control)."),
    ] = None,
    metric: Annotated[
        str, typer.Option("--metric", help="With --counts: conversion or value.")
    ] = "conversion",
    direction: Annotated[
        str, typer.Option("--direction", help="With --counts: increase or decrease is hoped for.")
    ] = "increase",
    as_of: AsOfOption = None,
    alpha: Annotated[
        float | None,
        typer.Option(
            "--alpha", min=0.0001, max=0.5, help="Significance level (default: the plan's, 0.05)."
        ),
    ] = None,
    workspace: WorkspaceOption = Path("."),
    fmt: FormatOption = Format.table,
    db: DbOption = None,
) -> None:
    """Analyse an experiment: lifts, intervals, p-values, chance to win, SRM and a verdict."""
    if counts is not None and experiment_id is None:
        if as_of is not None:
            raise MissionlineError("--as-of applies to a plan experiment, not to --counts")
        result = _counts_result(counts, control, metric, alpha, direction)
    elif experiment_id is not None and counts is None:
        if control is not None or metric != "conversion" or direction != "increase":
            raise MissionlineError(
                "--control, --metric and --direction apply to --counts; a plan experiment "
                "declares its own"
            )
        with Workspace.open(workspace, db) as ws:
            result = analyze_experiment(
                ws.tables(), ws.schema, ws.plan, experiment_id, as_of, alpha
            )
    else:
        raise MissionlineError("give an EXPERIMENT_ID from the plan, or --counts FILE.csv")
    if fmt == Format.json:
        sys.stdout.write(json.dumps(result.to_json(), indent=2) + "\n")
        return
    if fmt == Format.csv:
        emit(variants_frame(result), fmt)
        return
    emit(_table_frame(result), fmt, title=f"Experiment {result.experiment}")
    console.print(summary_text(result), highlight=False)


def summary_text(result: ExperimentResult) -> str:
    """The lines under the table: sample ratio, plan, CUPED and the verdict."""
    lines = []
    if result.srm_p_value is not None:
        lines.append(f"sample-ratio check: p = {result.srm_p_value:.3g}")
    if result.planned_units_per_variant is not None:
        lines.append(f"planned units per variant: {result.planned_units_per_variant:,}")
    if result.pending_units:
        lines.append(f"units whose window has not closed yet: {result.pending_units:,}")
    if result.cuped is not None:
        lines.append(
            f"CUPED on {result.cuped.covariate}: theta {result.cuped.theta:.4g}, variance "
            f"reduced by {result.cuped.variance_reduction:.1%}"
        )
    winner = f" ({result.winner})" if result.winner else ""
    basis = "always-valid intervals" if result.sequential else "fixed-horizon intervals"
    lines.append(f"verdict: {result.verdict}{winner}, on {basis}")
    return "\n".join(lines)


def plan_payload(
    ws: Workspace | None,
    baseline: float,
    mde: float,
    relative: bool = False,
    power: float = 0.8,
    alpha: float = 0.05,
    variants: int = 2,
    stage: str | None = None,
    days: int | None = None,
) -> dict[str, Any]:
    """What ``experiment plan --format json`` prints; the duration needs a workspace."""
    n = sample_size(baseline, mde, relative, power, alpha, variants)
    payload: dict[str, Any] = {
        "baseline": baseline,
        "mde": mde,
        "relative": relative,
        "target_rate": baseline * (1 + mde) if relative else baseline + mde,
        "power": power,
        "alpha": alpha,
        "variants": variants,
        "units_per_variant": n,
        "total_units": n * variants,
        "stage": None,
        "units_per_day": None,
        "duration_days": None,
    }
    if ws is not None:
        stage_id = stage or ws.plan.lifecycle.path()[0].id
        per_day = traffic_per_day(ws.tables(), ws.schema, ws.plan, stage=stage_id, days=days or 28)
        payload |= {
            "stage": stage_id,
            "units_per_day": per_day,
            "duration_days": duration_days(n, variants, per_day),
        }
    return payload


def analyze_payload(
    ws: Workspace, experiment_id: str, as_of: str | None = None, alpha: float | None = None
) -> dict[str, Any]:
    """What ``experiment analyze EXPERIMENT_ID --format json`` prints for a plan experiment."""
    result = analyze_experiment(ws.tables(), ws.schema, ws.plan, experiment_id, as_of, alpha)
    return result.to_json()


@experiment_app.command("plan")
def plan_command(
    baseline: Annotated[
        float, typer.Option("--baseline", help="The control's conversion rate, e.g. 0.10.")
    ],
    mde: Annotated[
        float,
        typer.Option("--mde", help="Minimum detectable effect: rate points (0.02) or relative."),
    ],
    relative: Annotated[
        bool, typer.Option("--relative", help="--mde is relative to the baseline (0.2 = +20%).")
    ] = False,
    power: Annotated[
        float, typer.Option("--power", min=0.01, max=0.99, help="Power at the effect.")
    ] = 0.8,
    alpha: Annotated[
        float, typer.Option("--alpha", min=0.0001, max=0.5, help="Two-sided significance level.")
    ] = 0.05,
    variants: Annotated[
        int, typer.Option("--variants", min=2, help="Variants, the control included.")
    ] = 2,
    workspace: Annotated[
        Path | None,
        typer.Option(
            "-w",
            "--workspace",
            help="Estimate the duration from this workspace's recent daily traffic.",
        ),
    ] = None,
    stage: Annotated[
        str | None,
        typer.Option("--stage", help="With -w: the stage whose entries are the traffic."),
    ] = None,
    days: Annotated[
        int | None,
        typer.Option("--days", min=1, help="With -w: the recent days averaged (default 28)."),
    ] = None,
    fmt: FormatOption = Format.table,
    db: DbOption = None,
) -> None:
    """Sample size per variant for a conversion test, and its duration at the traffic."""
    if workspace is None:
        if stage is not None or days is not None:
            raise MissionlineError(
                "--stage and --days need -w: the traffic is read from a workspace"
            )
        payload = plan_payload(None, baseline, mde, relative, power, alpha, variants)
    else:
        with Workspace.open(workspace, db) as ws:
            payload = plan_payload(ws, baseline, mde, relative, power, alpha, variants, stage, days)
    if fmt == Format.json:
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
        return
    emit(pd.DataFrame([payload]), fmt, title="Experiment plan")


def register_experiment_commands(app: typer.Typer) -> None:
    """Add the ``experiment`` command group to the app."""
    app.add_typer(experiment_app, name="experiment")
