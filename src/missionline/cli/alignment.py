"""The ``alignment`` command (the index, its trend and drivers) and the ``survey`` commands.

``missionline alignment --format json`` prints ``{"index", "coverage", "period", "components":
[{"id", "score", "weight", "measured", "inputs"}], "drivers": [...]}``; with ``--period``, a
list of those objects, one per period. ``--records COMPONENT`` prints the rows behind one
component's score instead. ``missionline survey`` prints the questionnaire results (``--by
function`` or ``statement``); ``missionline survey instrument`` prints the statements;
``missionline survey invite`` prints a single-use questionnaire link for one respondent
(docs/web.md). The definitions are in docs/alignment.md.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer

from missionline.alignment import index as registry
from missionline.alignment.index import AlignmentIndex, alignment_index, alignment_trend
from missionline.alignment.survey import (
    By,
    compared,
    instrument,
    survey_gap,
    survey_results,
)
from missionline.cli.metrics import PeriodOption
from missionline.cli.options import DbOption, FormatOption, WorkspaceOption
from missionline.cli.output import Format, console, emit, err_console, records
from missionline.cli.progress import progress_bar
from missionline.errors import MissionlineError
from missionline.web.invites import invite_path, new_invite
from missionline.web.store import INVITE_DAYS, open_store
from missionline.workspace import Workspace

RecordsOption = Annotated[
    str | None,
    typer.Option(
        "--records",
        help="Print the rows behind one component's score, e.g. handoff.",
    ),
]


def _components_frame(result: AlignmentIndex) -> pd.DataFrame:
    rows = [
        {
            "id": c.id,
            "score": c.score,
            "weight": c.weight,
            "measured": c.measured,
            "advice": c.advice or c.inputs.get("reason", ""),
        }
        for c in result.components
    ]
    return pd.DataFrame(rows)


def _trend_frame(results: list[AlignmentIndex]) -> pd.DataFrame:
    rows = [
        {"period": r.period, "index": r.index, "coverage": r.coverage}
        | {c.id: c.score for c in r.components}
        for r in results
    ]
    return pd.DataFrame(rows)


def _records(results: list[AlignmentIndex], component: str, trend: bool) -> pd.DataFrame:
    frames = []
    for r in results:
        found = r.component(component).records
        if found is not None:
            frames.append(found.assign(period=r.period) if trend else found)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _print_index(result: AlignmentIndex) -> None:
    value = "not measured" if result.index is None else f"{result.index:.1f} of 100"
    coverage = "-" if result.coverage is None else f"{result.coverage:.0%}"
    console.print(f"alignment index: {value} (coverage {coverage})", highlight=False)


def alignment_results(
    ws: Workspace,
    period: str | None = None,
    component: str | None = None,
    progress: Callable[[str, float | None], None] | None = None,
) -> list[AlignmentIndex]:
    """The index now, or per period; only ``component`` when its records are asked for."""
    chosen = registry.COMPONENTS
    if component is not None:  # score only the component whose records are asked for
        chosen = [c for c in registry.COMPONENTS if c[0] == component]
        if not chosen:
            known = ", ".join(c[0] for c in registry.COMPONENTS)
            raise MissionlineError(f"unknown --records {component!r}; use one of {known}")
    tables, schema, plan = ws.tables(), ws.schema, ws.plan
    if period:
        return alignment_trend(tables, schema, plan, period, progress, chosen)
    return [alignment_index(tables, schema, plan, progress, chosen)]


def alignment_payload(
    results: list[AlignmentIndex], period: str | None = None, component: str | None = None
) -> Any:
    """What ``--format json`` prints: the index (a list per period), or a component's records."""
    if component is not None:
        return records(_records(results, component, bool(period)))
    return [r.as_json() for r in results] if period else results[0].as_json()


def alignment_command(
    workspace: WorkspaceOption = Path("."),
    period: PeriodOption = None,
    component: RecordsOption = None,
    fmt: FormatOption = Format.table,
    db: DbOption = None,
) -> None:
    """How aligned are Marketing and Sales? The alignment index, its components and drivers."""
    with Workspace.open(workspace, db) as ws, progress_bar() as progress:
        results = alignment_results(ws, period, component, progress)
    if component is not None:
        emit(_records(results, component, bool(period)), fmt, title=f"Records behind {component}")
        return
    if fmt == Format.json:
        sys.stdout.write(json.dumps(alignment_payload(results, period, component), indent=2) + "\n")
        return
    if period:
        if not results and fmt == Format.table:
            console.print("no stage entries yet: there is no period to score", highlight=False)
            return
        emit(_trend_frame(results), fmt, title=f"Alignment index by {period}")
        return
    result = results[0]
    if fmt == Format.csv:
        emit(_components_frame(result), fmt)
        return
    _print_index(result)
    emit(_components_frame(result), fmt, title="Components (0-100)")
    emit(result.drivers, fmt, title="Drivers: what pulls the index down (index points)")


survey_app = typer.Typer(
    help="The alignment questionnaire: results, the Marketing-Sales gap, the statements.",
    invoke_without_command=True,
)


def _survey_payload(rows: pd.DataFrame, gaps: pd.DataFrame, pair: tuple[str, str]) -> Any:
    """One JSON object, or one per period: the overall gap and the rows."""

    def one(part: pd.DataFrame, gap_row: dict[str, Any], period: Any) -> dict[str, Any]:
        return {"period": period, "compare": list(pair), "gap": gap_row, "rows": records(part)}

    if "period" not in gaps.columns:
        return one(rows, records(gaps)[0], None)
    out = []
    for gap_row in records(gaps):
        period = gap_row.pop("period")
        part = rows[rows["period"].astype(str) == period].drop(columns="period")
        out.append(one(part, gap_row, period))
    return out


def survey_frames(
    ws: Workspace, by: str = "function", period: str | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, tuple[str, str]]:
    """The questionnaire rows by ``by``, the gap (per period) and the two functions compared."""
    if by not in ("function", "statement"):
        raise MissionlineError(f"unknown --by {by!r} for survey; use function or statement")
    tables, schema, plan = ws.tables(), ws.schema, ws.plan
    shape: By = "function" if by == "function" else "statement"
    rows = survey_results(tables, schema, plan, shape, period)
    gaps = survey_gap(tables, schema, plan, period)
    return rows, gaps, compared(plan)


def survey_payload(ws: Workspace, by: str = "function", period: str | None = None) -> Any:
    """What ``survey --format json`` prints."""
    return _survey_payload(*survey_frames(ws, by, period))


@survey_app.callback()
def survey(
    ctx: typer.Context,
    workspace: WorkspaceOption = Path("."),
    by: Annotated[str, typer.Option("--by", help="function (default) or statement.")] = "function",
    period: PeriodOption = None,
    fmt: FormatOption = Format.table,
    db: DbOption = None,
) -> None:
    """Questionnaire results per function or statement, and the Marketing-Sales gap."""
    if ctx.invoked_subcommand is not None:
        return
    with Workspace.open(workspace, db) as ws:
        rows, gaps, pair = survey_frames(ws, by, period)
    if fmt == Format.json:
        sys.stdout.write(json.dumps(_survey_payload(rows, gaps, pair), indent=2) + "\n")
        return
    if fmt == Format.table and by == "statement":
        rows = rows.drop(columns=["text"])  # the statements: missionline survey instrument
    emit(rows, fmt, title=f"Questionnaire by {by}")
    if fmt == Format.table:
        for g in records(gaps):
            if g["gap"] is None:
                text = f"{pair[0]} - {pair[1]} gap: not enough respondents (3 or more each)"
            else:
                text = (
                    f"{pair[0]} - {pair[1]} gap{' in ' + g['period'] if 'period' in g else ''}: "
                    f"{g['gap']:+.2f} (95% CI {g['ci_low']:+.2f} to {g['ci_high']:+.2f}, Welch; "
                    f"{g['respondents_a']} vs {g['respondents_b']} respondents)"
                )
            console.print(text, highlight=False)


@survey_app.command("instrument")
def instrument_command(
    workspace: WorkspaceOption = Path("."),
    fmt: FormatOption = Format.table,
    db: DbOption = None,
) -> None:
    """Print the questionnaire's statements (the plan's, or the default instrument)."""
    with Workspace.open(workspace, db) as ws:
        statements = instrument(ws.plan)
    frame = pd.DataFrame([s.model_dump() for s in statements], columns=["id", "pillar", "text"])
    emit(frame, fmt, title="Alignment questionnaire (1 = strongly disagree, 5 = strongly agree)")


@survey_app.command("invite")
def invite_command(
    respondent: Annotated[
        str, typer.Option("--respondent", help="Who answers (their name or an id).")
    ],
    function: Annotated[
        str, typer.Option("--function", help="The respondent's function, an id of the plan.")
    ],
    workspace: WorkspaceOption = Path("."),
    days: Annotated[
        float, typer.Option("--days", min=0.01, help="Days the link stays valid.")
    ] = INVITE_DAYS,
    db: DbOption = None,
) -> None:
    """Print a single-use questionnaire link path (/survey/<token>) for one respondent."""
    with Workspace.open(workspace, db) as ws:
        secret = new_invite(open_store(ws.db), ws.plan, respondent, function, days)
    sys.stdout.write(invite_path(secret) + "\n")
    err_console.print(
        f"append this path to the web app's address; it works once, for {days:g} days",
        highlight=False,
    )


def register_alignment_commands(app: typer.Typer) -> None:
    """Add the ``alignment`` command and the ``survey`` command group to the app."""
    app.command("alignment")(alignment_command)
    app.add_typer(survey_app, name="survey")
