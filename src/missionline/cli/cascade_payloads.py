"""What the cascade commands compute and print as JSON: the results behind ``cascade``,
``cascade check``, ``pacing``, ``scenario`` and ``capacity``, shared by the CLI and the web API.

The JSON objects are documented in docs/cascade.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import pandas as pd

from missionline.cli.output import records
from missionline.planning.capacity import IDLE_BELOW, capacity_check
from missionline.planning.cascade import CascadeResult, cascade
from missionline.planning.coherence import target_coherence
from missionline.planning.pacing import PacingResult, pacing
from missionline.planning.scenarios import compare, parse_changes, slug
from missionline.workspace import Workspace

Progress = Callable[[str, float | None], None]


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    """A flat object with JSON-ready values (dates as ISO text, NaN as null)."""
    return records(pd.DataFrame([item]))[0]


def cascade_json(result: CascadeResult) -> dict[str, Any]:
    """The cascade's JSON object (see docs/cascade.md)."""
    scope = next(iter(result.scopes.values()), None)
    return {
        "period": result.period,
        "lookback": scope.lookback if scope else None,
        "window": _plain({"start": scope.start, "end": scope.end}) if scope else None,
        "required": records(result.required),
        "functions": records(result.functions),
        "budget": records(result.budget),
        "assumptions": records(result.assumptions),
        "not_cascadable": result.not_cascadable,
    }


def cascade_result(
    ws: Workspace,
    by: list[str] | None = None,
    period: str | None = None,
    lookback: str | None = None,
    as_of: str | None = None,
    progress: Progress | None = None,
) -> CascadeResult:
    """The cascade of the workspace's plan (monthly unless ``period`` says otherwise)."""
    tables, schema, plan = ws.tables(), ws.schema, ws.plan
    return cascade(tables, schema, plan, by or [], period or "month", lookback, as_of, progress)


def cascade_payload(
    ws: Workspace,
    by: list[str] | None = None,
    period: str | None = None,
    lookback: str | None = None,
    as_of: str | None = None,
) -> dict[str, Any]:
    """What ``cascade --format json`` prints."""
    return cascade_json(cascade_result(ws, by, period, lookback, as_of))


def findings_json(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The findings of ``cascade check`` as JSON rows (an empty list without findings)."""
    return records(frame) if len(frame) else []


def check_payload(
    ws: Workspace, lookback: str | None = None, as_of: str | None = None
) -> list[dict[str, Any]]:
    """What ``cascade check --format json`` prints."""
    found = target_coherence(ws.tables(), ws.schema, ws.plan, as_of, lookback)
    return findings_json(pd.DataFrame([asdict(f) for f in found]))


def pacing_result(
    ws: Workspace,
    by: list[str] | None = None,
    as_of: str | None = None,
    lookback: str | None = None,
    draws: int = 2000,
    seed: int = 0,
    progress: Progress | None = None,
) -> PacingResult:
    """Pacing to date and the projection of each success factor."""
    tables, schema, plan = ws.tables(), ws.schema, ws.plan
    return pacing(tables, schema, plan, by or [], as_of, lookback, draws, seed, progress)


def pacing_payload(ws: Workspace, **options: Any) -> dict[str, Any]:
    """What ``pacing --format json`` prints (options as :func:`pacing_result`'s)."""
    return pacing_json(pacing_result(ws, **options))


def scenario_frame(
    ws: Workspace,
    extra: list[tuple[str, list[str]]],
    as_of: str | None = None,
    lookback: str | None = None,
    progress: Progress | None = None,
) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """The plan's scenarios and ``extra`` side by side, and each scenario's changes."""
    frame = compare(ws.tables(), ws.schema, ws.plan, extra, as_of, lookback, progress)
    sets = {s.id: list(s.set) for s in ws.plan.scenarios} | dict(extra)
    return frame, sets


def scenario_json(frame: pd.DataFrame, sets: dict[str, list[str]]) -> dict[str, Any]:
    """The scenario JSON object: the scenarios with their changes, and the rows."""
    listed = [{"id": k, "set": list(v)} for k, v in sets.items()]
    return {"scenarios": listed, "rows": records(frame)}


def scenario_payload(
    ws: Workspace,
    changes: list[str] | None = None,
    name: str | None = None,
    as_of: str | None = None,
    lookback: str | None = None,
) -> dict[str, Any]:
    """What ``scenario --format json`` prints without ``--save`` (saving is the CLI's)."""
    parse_changes(ws.plan, changes or [])
    extra = [(slug(name) if name else "adhoc", changes)] if changes else []
    return scenario_json(*scenario_frame(ws, extra, as_of, lookback))


def capacity_frame(
    ws: Workspace,
    as_of: str | None = None,
    lookback: str | None = None,
    idle_below: float = IDLE_BELOW,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """Demand against capacity and budget per month."""
    tables, schema, plan = ws.tables(), ws.schema, ws.plan
    return capacity_check(tables, schema, plan, as_of, lookback, idle_below, None, progress)


def capacity_payload(ws: Workspace, **options: Any) -> list[dict[str, Any]]:
    """What ``capacity --format json`` prints (options as :func:`capacity_frame`'s)."""
    return records(capacity_frame(ws, **options))


def pacing_json(result: PacingResult) -> dict[str, Any]:
    """The pacing JSON object (see docs/cascade.md)."""
    projections = []
    for projection in result.projections:
        item = _plain({k: v for k, v in asdict(projection).items() if k != "months"})
        projections.append({**item, "months": records(projection.months)})
    return {
        "as_of": result.as_of.isoformat(),
        "rows": records(result.rows),
        "projections": projections,
    }
