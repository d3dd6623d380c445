"""The ``attribution`` command: credit conversions and revenue to channels or initiatives.

``--format json`` prints, for one model, the contract of
:meth:`missionline.models.attribution.credit.Attribution.to_json`::

    {"model": "markov", "channels": [{"channel", "conversions", "value"}, ...],
     "removal_effects": {"webinar": 0.37, ...} | null}

(``standard_errors`` is added for sampled Shapley values); for ``--model all``
``{"models": [<one object per model>]}``; with ``--roi`` the list of initiative rows.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import pandas as pd
import typer

from missionline.cli.options import DbOption, FormatOption, WorkspaceOption
from missionline.cli.output import Format, emit, records
from missionline.cli.progress import progress_bar
from missionline.errors import MissionlineError
from missionline.metrics.periods import parse_duration_days
from missionline.models.attribution.credit import (
    Attribution,
    applicable_models,
    attribute,
    side_by_side,
)
from missionline.models.attribution.journeys import workspace_paths
from missionline.models.attribution.paths import Paths, read_paths_csv
from missionline.models.attribution.roi import initiative_roi
from missionline.models.attribution.shapley import DEFAULT_SAMPLES
from missionline.workspace import Workspace

T = TypeVar("T")


class Model(StrEnum):
    """The --model choices: every model, or all of them."""

    first_touch = "first_touch"
    last_touch = "last_touch"
    linear = "linear"
    u_shaped = "u_shaped"
    w_shaped = "w_shaped"
    full_path = "full_path"
    time_decay = "time_decay"
    markov = "markov"
    shapley = "shapley"
    all = "all"


class Level(StrEnum):
    """The --level choices: whose journeys."""

    person = "person"
    opportunity = "opportunity"
    account = "account"


class TouchBy(StrEnum):
    """The --by choices: what the touches are credited to."""

    channel = "channel"
    initiative = "initiative"


class ShapleyValue(StrEnum):
    """The --shapley-value choices: the coalition value function."""

    conversions = "conversions"
    conversion_rate = "conversion_rate"


WORKSPACE_ONLY = ("--level", "--by", "--lookback", "--function", "--roi")


def _phase(progress: Callable[[str, float | None], None], label: str, work: Callable[[], T]) -> T:
    """Run ``work`` as one labelled phase of the progress display."""
    progress(label, None)
    result = work()
    progress(label, 1.0)
    return result


def _single(result: Attribution) -> pd.DataFrame:
    """One model's table: the channels, plus removal effects or standard errors when known."""
    frame = result.channels.copy()
    if result.removal_effects is not None:
        frame["removal_effect"] = frame["channel"].map(result.removal_effects)
    if result.standard_errors is not None:
        frame["standard_error"] = frame["channel"].map(result.standard_errors)
    return frame


def _check(paths_file: Path | None, used: dict[str, bool], model: str, roi: bool) -> None:
    """Refuse option combinations that mean nothing."""
    if paths_file is not None:
        given = [name for name in WORKSPACE_ONLY if used[name]]
        if given:
            raise MissionlineError(
                f"{', '.join(given)} appl{'ies' if len(given) == 1 else 'y'} to a workspace's "
                "journeys, not to --paths"
            )
    if roi and model == "all":
        raise MissionlineError("--roi credits initiatives with one model: choose a --model")
    if roi and used["--by"]:
        raise MissionlineError("--roi is always by initiative: leave out --by")


def attribution_command(
    workspace: WorkspaceOption = Path("."),
    model: Annotated[
        Model, typer.Option("--model", "-m", help="The model, or all for every model side by side.")
    ] = Model.markov,
    order: Annotated[
        int,
        typer.Option("--order", min=1, max=4, help="Markov order: the channels a state remembers."),
    ] = 1,
    half_life: Annotated[
        str, typer.Option("--half-life", help="Time-decay half-life, e.g. 7d, 2w or 36h.")
    ] = "7d",
    level: Annotated[
        Level, typer.Option("--level", help="Whose journeys: person, opportunity or account.")
    ] = Level.person,
    by: Annotated[
        TouchBy | None,
        typer.Option("--by", help="Credit channels (default) or initiatives."),
    ] = None,
    lookback: Annotated[
        str | None,
        typer.Option("--lookback", help="Only touches this long before the conversion, e.g. 90d."),
    ] = None,
    function: Annotated[
        list[str] | None,
        typer.Option(
            "--function", help="Only touches of this function (e.g. marketing). Repeat for several."
        ),
    ] = None,
    paths_file: Annotated[
        Path | None,
        typer.Option(
            "--paths",
            help="Read aggregated paths from a CSV file (path, total_conversions, "
            "total_conversion_value, total_null) instead of the workspace.",
        ),
    ] = None,
    shapley_value: Annotated[
        ShapleyValue,
        typer.Option(
            "--shapley-value", help="Shapley coalition value: conversions or conversion_rate."
        ),
    ] = ShapleyValue.conversions,
    samples: Annotated[
        int,
        typer.Option(
            "--samples",
            min=2,
            help="Random channel orders for conversion_rate Shapley values beyond 15 channels.",
        ),
    ] = DEFAULT_SAMPLES,
    roi: Annotated[
        bool, typer.Option("--roi", help="Show initiative ROI: attributed revenue against spend.")
    ] = False,
    fmt: FormatOption = Format.table,
    db: DbOption = None,
) -> None:
    """Credit conversions and revenue to channels or initiatives, rule-based and data-driven."""
    used = {
        "--level": level != Level.person,
        "--by": by is not None,
        "--lookback": lookback is not None,
        "--function": bool(function),
        "--roi": roi,
    }
    _check(paths_file, used, model.value, roi)
    options: dict[str, Any] = {
        "order": order,
        "half_life_days": parse_duration_days(half_life),
        "value_function": shapley_value.value,
        "samples": samples,
    }
    window = parse_duration_days(lookback) if lookback else None
    touch = by.value if by is not None else "channel"
    if roi:
        with progress_bar() as progress, Workspace.open(workspace, db) as ws:
            frame = _phase(
                progress,
                "attributing initiatives",
                lambda: initiative_roi(
                    ws.tables(),
                    ws.schema,
                    ws.plan,
                    model.value,
                    level.value,
                    window,
                    function or (),
                    **options,
                ),
            )
            company = ws.plan.company
        emit(frame, fmt, title=f"{company}: initiative ROI ({model.value}, {level.value} level)")
        return
    with progress_bar() as progress:
        paths = _phase(
            progress,
            "reading journeys",
            lambda: _read(paths_file, workspace, db, level.value, touch, window, function),
        )
        names = applicable_models(paths) if model == Model.all else [model.value]
        results = _phase(
            progress, "attributing", lambda: [attribute(paths, m, **options) for m in names]
        )
    _show(results, model == Model.all, fmt, touch, paths_file.name if paths_file else level.value)


def _results_json(results: list[Attribution], side: bool) -> Any:
    """The JSON of one model's credit, or of every model side by side."""
    return {"models": [r.to_json() for r in results]} if side else results[0].to_json()


def attribution_payload(
    ws: Workspace,
    model: Model = Model.markov,
    order: int = 1,
    half_life: str = "7d",
    level: Level = Level.person,
    by: TouchBy | None = None,
    lookback: str | None = None,
    function: list[str] | None = None,
    shapley_value: ShapleyValue = ShapleyValue.conversions,
    samples: int = DEFAULT_SAMPLES,
    roi: bool = False,
) -> Any:
    """What ``attribution --format json`` prints for the workspace's journeys."""
    _check(None, {"--by": by is not None}, model.value, roi)
    options: dict[str, Any] = {
        "order": order,
        "half_life_days": parse_duration_days(half_life),
        "value_function": shapley_value.value,
        "samples": samples,
    }
    window = parse_duration_days(lookback) if lookback else None
    tables, schema, plan = ws.tables(), ws.schema, ws.plan
    if roi:
        frame = initiative_roi(
            tables, schema, plan, model.value, level.value, window, function or (), **options
        )
        return records(frame)
    touch = by.value if by is not None else "channel"
    paths = workspace_paths(tables, schema, plan, level.value, touch, window, function or ())
    names = applicable_models(paths) if model == Model.all else [model.value]
    return _results_json([attribute(paths, m, **options) for m in names], model == Model.all)


def _show(results: list[Attribution], side: bool, fmt: Format, touch: str, where: str) -> None:
    """Print one model's credit, or every model side by side."""
    if fmt == Format.json:
        sys.stdout.write(json.dumps(_results_json(results, side), indent=2) + "\n")
        return
    table = side_by_side(results) if side else _single(results[0])
    model = "all models" if side else results[0].model
    emit(table, fmt, title=f"Attribution by {touch} ({model}; {where})")


def _read(
    paths_file: Path | None,
    workspace: Path,
    db: str | None,
    level: str,
    touch: str,
    window: float | None,
    function: list[str] | None,
) -> Paths:
    """The paths: from the file when given, else the workspace's journeys."""
    if paths_file is not None:
        return read_paths_csv(paths_file)
    with Workspace.open(workspace, db) as ws:
        return workspace_paths(
            ws.tables(), ws.schema, ws.plan, level, touch, window, function or ()
        )


def register_attribution_commands(app: typer.Typer) -> None:
    """Add the ``attribution`` command to the app."""
    app.command("attribution")(attribution_command)
