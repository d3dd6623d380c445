"""Scenarios: the cascade again with changed assumptions, side by side with the baseline.

A scenario is a list of changes (:mod:`.changes`). Conversions, lags, deal sizes and targets
change the cascade; the result is compared on, per success factor:

* ``target``: the factor's target per its period;
* ``required``: entries needed at each ladder stage over the whole cascade (every period);
* ``budget_needed``: the budget the cascade needs over the whole cascade (entries needed at the
  first stage * measured cost per entry);
* ``budget_funded``: the run-rate budget over the horizon: the first stage owner's spend per
  month in the lookback window, per channel, times the scenario's budget changes;
* ``run_rate_attainment``: the share of the target the funnel delivers if the first stage keeps
  its run rate (its first entries per month in the lookback window, per channel), every
  channel's entries scaling with its budget (cost per entry held), flowing down the ladder at
  the scenario's conversions and deal size (a steady state: lags do not change the rate).

A lag change moves the whole distribution (``+10`` days, ``*1.5`` stretched) or sets a point
(``=30``). A deal-size change scales the won amounts behind the projections too. ``budget``
changes are relative to the run-rate spend per month (``budget.events=40000`` sets it; a
``budget`` change without a channel changes the total, each channel in proportion).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import ibis.expr.types as ir
import numpy as np
import pandas as pd
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from missionline.data.importer import Progress
from missionline.data.schema import Table
from missionline.errors import MissionlineError
from missionline.metrics.pipeline import AsOf, resolve_as_of
from missionline.plan.models import Plan
from missionline.planning import measure
from missionline.planning.assumptions import Assumptions, Ladder, Step, point_lag
from missionline.planning.cascade import Run, Scopes, measure_scopes, run_cascade
from missionline.planning.changes import Change, change_problem, parse_change
from missionline.planning.ladder import (
    MONTHS_PER_PERIOD,
    cut,
    horizon,
    ladder,
    month_count,
    scoped,
)

BASELINE = "baseline"
COLUMNS = ["scenario", "success_factor", "measure", "stage", "value"]


@dataclass(frozen=True)
class RunRate:
    """First-stage entries and spend per month in the lookback window, per channel."""

    entries: pd.DataFrame
    spend: dict[str, float]


def parse_changes(plan: Plan, texts: Sequence[str]) -> list[Change]:
    """Parse and check ``--set`` strings against the plan; a MissionlineError names the bad one."""
    changes = []
    steps = [s.id for s in ladder(plan)]
    for text in texts:
        change = parse_change(text)
        problem = change_problem(change, plan, steps)
        if problem is not None:
            raise MissionlineError(problem)
        changes.append(change)
    return changes


def _lag(lag: np.ndarray, change: Change) -> np.ndarray:
    """The lag distribution after a change: shifted, stretched, or set to a point."""
    if change.op == "set":
        return point_lag(change.amount)
    if change.op == "add":
        shift = round(change.amount)
        if shift >= 0:
            return np.concatenate([np.zeros(shift), lag])
        moved = lag[-shift:].copy()
        moved[0] += lag[:-shift].sum()  # lags cannot become negative
        return moved if len(moved) else np.ones(1)
    days = np.round(np.arange(len(lag)) * change.amount).astype(int)
    out = np.zeros(days.max() + 1)
    np.add.at(out, days, lag)
    return out


def _step(step: Step, change: Change) -> Step:
    """One step after a conversion or lag change (the number becomes the scenario's)."""
    label = f"scenario: {change.text}"
    if change.kind == "conversion" and step.conversion is not None:
        rate = change.apply(step.conversion)
        return replace(step, conversion=rate, conversion_source=label, reach=None)
    if change.kind == "lag_days":
        return replace(step, lag=_lag(step.lag, change), lag_source=label)
    return step


def _ladder(lad: Ladder, change: Change) -> Ladder:
    """One ladder after a change that applies to its segment."""
    if change.segment is not None and lad.segment != change.segment:
        return lad  # a segment's change leaves the other ladders (and the all-segment one)
    if change.kind == "deal_size" and lad.deal_size is not None:
        size = change.apply(lad.deal_size)
        scaled = lad.amounts * (size / lad.deal_size)
        return replace(
            lad, deal_size=size, deal_size_source=f"scenario: {change.text}", amounts=scaled
        )
    steps = tuple(_step(s, change) if s.stage == change.key else s for s in lad.steps)
    return replace(lad, steps=steps)


def apply(scopes: Scopes, changes: Sequence[Change]) -> Scopes:
    """The assumptions after the changes (targets and budgets are applied elsewhere)."""
    out = {}
    for key, scope in scopes.items():
        ladders = dict(scope.ladders)
        for change in changes:
            if change.kind in ("conversion", "lag_days", "deal_size"):
                ladders = {seg: _ladder(lad, change) for seg, lad in ladders.items()}
        out[key] = replace(scope, ladders=ladders)
    return out


def _multipliers(rate: RunRate, changes: Sequence[Change]) -> dict[str, float]:
    """Each channel's budget multiplier after the budget changes.

    A channel's change applies to its monthly spend; ``budget`` without a channel changes the
    total, every channel with spend in proportion.
    """
    out = {channel: 1.0 for channel in rate.spend}
    for change in (c for c in changes if c.kind == "budget"):
        channels = [change.key] if change.key else [c for c, s in rate.spend.items() if s > 0]
        if not channels or any(rate.spend.get(c or "", 0.0) <= 0 for c in channels):
            raise MissionlineError(
                f"change {change.text!r}: no spend in the lookback window to change; channels "
                f"with spend: {', '.join(sorted(c for c, s in rate.spend.items() if s > 0))}"
            )
        before = sum(rate.spend[c] * out[c] for c in channels if c)
        scale = change.apply(before) / before
        for channel in channels:
            out[channel or ""] *= scale
    return out


def measure_run_rate(
    tables: dict[str, ir.Table], plan: Plan, scope: Assumptions, as_of: pd.Timestamp
) -> RunRate:
    """First-stage entries and spend per month of the lookback window, per channel."""
    first = ladder(plan)[0]
    history = scoped(cut(tables, as_of), scope.kind, scope.market)
    months = max((scope.end - scope.start).days / 30.4375, 1e-9)
    entries = measure.channel_entries(history, first, scope.start, scope.end)
    entries["entries"] = entries["entries"] / months
    channels = {i.id: i.channel for i in plan.initiatives if i.channel}
    spend = measure.channel_spend(history, first.owner or "", channels, scope.start, scope.end)
    per_month = {
        str(c): float(s) / months
        for c, s in zip(spend["channel"], spend["spend"], strict=True)
        if pd.notna(c)
    }
    return RunRate(entries, per_month)


def _target(factor: str, target: float, changes: Sequence[Change]) -> float:
    """A success factor's target after the scenario's target changes."""
    for change in changes:
        if change.kind == "target" and change.key == factor:
            target = change.apply(target)
    return target


def _delivered(run: Run, rate: RunRate, multipliers: dict[str, float]) -> float | None:
    """Won value (or deals) per month a run's segment delivers at the first stage's run rate."""
    segment = run.segment or run.factor.scope.segment
    rows = rate.entries if segment is None else rate.entries[rate.entries["segment"] == segment]
    scale = [multipliers.get(c, 1.0) if pd.notna(c) else 1.0 for c in rows["channel"]]
    entries = float((rows["entries"] * np.array(scale, dtype=float)).sum())
    conversions = [s.conversion for s in run.ladder.steps]
    size = run.ladder.deal_size if run.factor.measure == "won_amount" else 1.0
    if size is None or any(c is None for c in conversions):
        return None
    return entries * float(np.prod(np.array(conversions, dtype=float))) * size


def compare(
    tables: dict[str, ir.Table],
    schema: dict[str, Table],
    plan: Plan,
    extra: Sequence[tuple[str, Sequence[str]]] = (),
    as_of: AsOf = None,
    lookback: str | None = None,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """The baseline, the plan's saved scenarios and ``extra`` (name, changes), side by side."""
    named = [(BASELINE, []), *((s.id, s.set) for s in plan.scenarios), *extra]
    parsed = [(name, parse_changes(plan, texts)) for name, texts in named]
    stamp = resolve_as_of(tables, as_of)
    scopes = measure_scopes(tables, schema, plan, stamp, lookback, progress)
    rates = {key: measure_run_rate(tables, plan, scope, stamp) for key, scope in scopes.items()}
    months = month_count(horizon(plan)) if scopes else 0
    rows = []
    for name, changes in parsed:
        targets = {f.id: _target(f.id, f.target, changes) for f in plan.success_factors}
        result = run_cascade(plan, apply(scopes, changes), by_segment=True, targets=targets)
        for factor in dict.fromkeys(run.factor.id for run in result.runs):
            runs = [run for run in result.runs if run.factor.id == factor]
            key = (runs[0].factor.scope.kind, runs[0].factor.scope.market)
            multipliers = _multipliers(rates[key], changes)
            rows += _rows(name, runs, targets[factor], rates[key], multipliers, months)
    return pd.DataFrame(rows, columns=COLUMNS)


def _rows(
    name: str,
    runs: Sequence[Run],
    target: float,
    rate: RunRate,
    multipliers: dict[str, float],
    months: int,
) -> list[tuple[object, ...]]:
    """One scenario's numbers for one success factor (summed over its segments)."""
    factor = runs[0].factor
    first = runs[0].ladder.steps[0].stage
    out: list[tuple[object, ...]] = [(name, factor.id, "target", None, target)]
    for stage in runs[0].required:
        total = sum(float(np.nansum(run.required[stage])) for run in runs)
        out.append((name, factor.id, "required", stage, total))
    costs = [run.scope.cost_per_entry.get(first) for run in runs]
    known = [c for c in costs if c is not None]
    needed = None
    if len(known) == len(costs):
        needed = sum(
            float(np.nansum(r.required[first])) * c for r, c in zip(runs, known, strict=True)
        )
    out.append((name, factor.id, "budget_needed", first, needed))
    funded = sum(s * multipliers[c] for c, s in rate.spend.items()) * months
    out.append((name, factor.id, "budget_funded", first, funded))
    delivered = [_delivered(run, rate, multipliers) for run in runs]
    period = factor.factor.period
    per_month = target / (months if period == "horizon" else MONTHS_PER_PERIOD[period])
    attainment = None
    if per_month and all(d is not None for d in delivered):
        attainment = sum(d for d in delivered if d is not None) / per_month
    out.append((name, factor.id, "run_rate_attainment", None, attainment))
    return out


def slug(name: str) -> str:
    """A scenario id from its name: snake_case, starting with a letter."""
    text = "".join(c if c.isalnum() else "_" for c in name.lower()).strip("_")
    text = "_".join(part for part in text.split("_") if part)
    return text if text[:1].isalpha() else f"scenario_{text}"


def save_scenario(path: Path, name: str, texts: Sequence[str]) -> str:
    """Write a scenario into the plan file's ``scenarios`` (same id: replaced); return its id.

    The plan is edited in place, comments and layout kept; it is written only when it still
    loads without errors.
    """
    from missionline.plan.loader import plan_from_text  # the loader imports the plan rules

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    data = yaml.load(path.read_text(encoding="utf-8"))
    scenario_id = slug(name)
    entry = CommentedMap([("id", scenario_id), ("name", name), ("set", CommentedSeq(texts))])
    entry["set"].fa.set_flow_style()
    listed = data.setdefault("scenarios", CommentedSeq())
    same = [i for i, s in enumerate(listed) if s.get("id") == scenario_id]
    if same:
        listed[same[0]] = entry
    else:
        listed.append(entry)
    stream = io.StringIO()
    yaml.dump(data, stream)
    plan_from_text(stream.getvalue(), str(path))
    path.write_text(stream.getvalue(), encoding="utf-8")
    return scenario_id
