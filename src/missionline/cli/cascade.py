"""Top-down cascade commands: ``cascade`` (and ``cascade check``), ``pacing``, ``scenario``,
``capacity``.

``--format json`` prints one object per command (documented in docs/cascade.md); ``csv`` prints
the main table only; ``table`` rounds needed entries up to whole records.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer

from missionline.cli.cascade_payloads import (
    capacity_frame,
    cascade_json,
    cascade_result,
    findings_json,
    pacing_json,
    pacing_result,
    scenario_frame,
    scenario_json,
)
from missionline.cli.metrics import PeriodOption
from missionline.cli.options import DbOption, FormatOption, WorkspaceOption
from missionline.cli.output import Format, console, emit, err_console
from missionline.cli.progress import progress_bar
from missionline.cli.revenue import AsOfOption
from missionline.errors import MissionlineError
from missionline.planning.capacity import IDLE_BELOW
from missionline.planning.cascade import CascadeResult, whole
from missionline.planning.coherence import target_coherence
from missionline.planning.scenarios import parse_changes, save_scenario, slug
from missionline.workspace import PLAN_FILE, Workspace

LookbackOption = Annotated[
    str | None,
    typer.Option(
        "--lookback",
        help="History behind the measured assumptions, e.g. 365d or 52w "
        "(default: the plan's cascade.assumptions.lookback, else 365d).",
    ),
]

BySegmentOption = Annotated[
    list[str] | None,
    typer.Option("--by", help="segment: one ladder per segment (the only split the cascade has)."),
]

cascade_app = typer.Typer(
    help="The top-down cascade: entries each stage needs per period to meet the targets.",
)


def _write(payload: Any) -> None:
    sys.stdout.write(json.dumps(payload, indent=2) + "\n")


def _whole(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """A copy with needed counts rounded up, for display."""
    out = frame.copy()
    for column in columns:
        out[column] = [whole(v) for v in out[column]]
    return out


def _print_cascade(result: CascadeResult, company: str) -> None:
    """The table view: needs per period for each factor, function totals, assumptions."""
    keys = ["success_factor", *(["segment"] if result.by_segment else [])]
    for key, rows in result.required.groupby(keys, sort=False, dropna=False):
        label = " / ".join(str(k) for k in (key if isinstance(key, tuple) else (key,)))
        table = rows.pivot_table(
            index="period", columns="stage", values="required", sort=False, dropna=False
        )
        table = _whole(table[list(dict.fromkeys(rows["stage"]))], list(table.columns))
        emit(
            table.reset_index(),
            Format.table,
            title=f"{company}: {label}, entries needed per {result.period} (rounded up)",
        )
    totals = result.functions.groupby(
        ["function", *keys, "measure", "stage"], sort=False, dropna=False
    )["value"]
    summary = totals.sum(min_count=1).reset_index()
    rates = totals.mean().reset_index()
    summary.loc[summary["measure"] == "win_rate", "value"] = rates["value"]
    counts = summary["measure"] == "entries"
    summary["value"] = [
        whole(v) if count else v for v, count in zip(summary["value"], counts, strict=True)
    ]
    emit(summary, Format.table, title="Function targets, all periods together")
    emit(result.assumptions, Format.table, title="Assumptions and where they come from")
    for item in result.not_cascadable:
        console.print(
            f"not cascadable: {item['success_factor']}: {item['reason']}", highlight=False
        )


@cascade_app.callback(invoke_without_command=True)
def cascade_command(
    ctx: typer.Context,
    workspace: WorkspaceOption = Path("."),
    by: BySegmentOption = None,
    period: PeriodOption = None,
    lookback: LookbackOption = None,
    as_of: AsOfOption = None,
    fmt: FormatOption = Format.table,
    db: DbOption = None,
) -> None:
    """From each success factor's target down the ladder: entries needed per stage and period."""
    if ctx.invoked_subcommand is not None:  # `cascade -w W check` checks W
        ctx.obj = {"workspace": workspace, "db": db}
        return
    with Workspace.open(workspace, db) as ws, progress_bar() as progress:
        plan = ws.plan
        result = cascade_result(ws, by, period, lookback, as_of, progress)
    if fmt == Format.json:
        _write(cascade_json(result))
    elif fmt == Format.csv:
        emit(result.required, fmt)
    else:
        _print_cascade(result, plan.company)


@cascade_app.command("check")
def check_command(
    ctx: typer.Context,
    workspace: WorkspaceOption = Path("."),
    lookback: LookbackOption = None,
    as_of: AsOfOption = None,
    fmt: FormatOption = Format.table,
    db: DbOption = None,
) -> None:
    """Objectives whose targets cannot deliver the cascade, or assume what never happened.

    Exit status: 0 when every objective fits, 1 when there are findings.
    """
    given = ctx.obj or {}
    workspace = workspace if workspace != Path(".") else given.get("workspace", workspace)
    db = db or given.get("db")
    with Workspace.open(workspace, db) as ws, progress_bar() as progress:
        found = target_coherence(ws.tables(), ws.schema, ws.plan, as_of, lookback, None, progress)
    frame = pd.DataFrame([asdict(f) for f in found])
    if fmt == Format.json:
        _write(findings_json(frame))
    elif fmt == Format.csv:
        emit(frame, fmt)
    else:
        for finding in found:
            console.print(f"{finding.kind}: {finding.message}", highlight=False)
        console.print(f"{len(found)} findings", highlight=False)
    if found:
        raise typer.Exit(1)


def pacing_command(
    workspace: WorkspaceOption = Path("."),
    by: BySegmentOption = None,
    as_of: AsOfOption = None,
    lookback: LookbackOption = None,
    draws: Annotated[
        int, typer.Option("--draws", min=100, help="Monte Carlo draws for the interval.")
    ] = 2000,
    seed: Annotated[int, typer.Option("--seed", min=0, help="The simulation's random seed.")] = 0,
    fmt: FormatOption = Format.table,
    db: DbOption = None,
) -> None:
    """Actual against required to date per stage and month; each factor's projection."""
    with Workspace.open(workspace, db) as ws, progress_bar() as progress:
        result = pacing_result(ws, by, as_of, lookback, draws, seed, progress)
    if fmt == Format.json:
        _write(pacing_json(result))
        return
    if fmt == Format.csv:
        emit(result.rows, fmt)
        return
    frame = pd.DataFrame([asdict(p) for p in result.projections]).drop(columns="months")
    emit(frame, fmt, title=f"Projected attainment as of {result.as_of:%Y-%m-%d} (80% interval)")
    keys = ["success_factor", *(["segment"] if "segment" in result.rows else [])]
    for key, rows in result.rows.groupby(keys, sort=False, dropna=False):
        label = " / ".join(str(k) for k in (key if isinstance(key, tuple) else (key,)))
        table = rows.pivot_table(index="period", columns="stage", values="pace", sort=False)
        emit(
            table[list(dict.fromkeys(rows["stage"]))].reset_index(),
            fmt,
            title=f"{label}: pace (actual ÷ required) per month",
        )


def scenario_command(
    workspace: WorkspaceOption = Path("."),
    changes: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help='A change, e.g. "conversion.sql=+0.05", "deal_size.computing=*1.1", '
            '"budget.paid_search=-20%". Repeat for several.',
        ),
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="The scenario's name (default: adhoc).")
    ] = None,
    save: Annotated[
        bool, typer.Option("--save", help="Save the scenario in the plan under scenarios.")
    ] = False,
    as_of: AsOfOption = None,
    lookback: LookbackOption = None,
    fmt: FormatOption = Format.table,
    db: DbOption = None,
) -> None:
    """Compare scenarios side by side: needs, budget and run-rate attainment."""
    if save and not (changes and name):
        raise MissionlineError("--save needs --name and at least one --set")
    with Workspace.open(workspace, db) as ws:
        parse_changes(ws.plan, changes or [])  # refuse a bad --set before measuring
    if save:
        saved = save_scenario(workspace / PLAN_FILE, name or "", changes or [])
        err_console.print(f"saved scenario {saved} in {workspace / PLAN_FILE}", highlight=False)
    extra = [] if save or not changes else [(slug(name) if name else "adhoc", changes)]
    with Workspace.open(workspace, db) as ws, progress_bar() as progress:
        frame, sets = scenario_frame(ws, extra, as_of, lookback, progress)
    if fmt == Format.json:
        _write(scenario_json(frame, sets))
        return
    if fmt == Format.csv:
        emit(frame, fmt)
        return
    keys = ["success_factor", "measure", "stage"]
    frame = frame.assign(stage=frame["stage"].fillna(""))
    wide = frame.pivot(index=keys, columns="scenario", values="value")
    order = frame[keys].drop_duplicates()
    wide = order.merge(wide.reset_index(), on=keys)[[*keys, *frame["scenario"].unique()]]
    emit(wide, fmt, title="Scenarios side by side")


def capacity_command(
    workspace: WorkspaceOption = Path("."),
    as_of: AsOfOption = None,
    lookback: LookbackOption = None,
    idle_below: Annotated[
        float,
        typer.Option(
            "--idle-below",
            min=0.0,
            max=1.0,
            help="Opportunity scarcity when open deals fall below this share of capacity.",
        ),
    ] = IDLE_BELOW,
    fmt: FormatOption = Format.table,
    db: DbOption = None,
) -> None:
    """Demand against sales capacity and the marketing budget per month; scarcity flags."""
    with Workspace.open(workspace, db) as ws, progress_bar() as progress:
        frame = capacity_frame(ws, as_of, lookback, idle_below, progress)
    if fmt != Format.table or frame.empty:
        emit(frame, fmt)
        return
    notes = frame[["budget_source", "cost_per_mql"]].iloc[0]
    emit(
        frame.drop(columns=["budget_source", "cost_per_mql"]),
        fmt,
        title="Capacity against demand per month",
    )
    console.print(
        f"marketing budget from {notes['budget_source']}; cost per MQL "
        f"{notes['cost_per_mql']:,.0f} (measured)",
        highlight=False,
    )


def register_cascade_commands(app: typer.Typer) -> None:
    """Add the cascade (with cascade check), pacing, scenario and capacity commands."""
    app.add_typer(cascade_app, name="cascade")
    app.command("pacing")(pacing_command)
    app.command("scenario")(scenario_command)
    app.command("capacity")(capacity_command)
