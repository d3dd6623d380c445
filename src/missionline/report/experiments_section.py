"""The report's experiments section: each declared experiment's lifts, intervals and verdict."""

from __future__ import annotations

import plotly.graph_objects as go

from missionline.errors import MissionlineError
from missionline.models.experiments import ExperimentResult, analyze_experiment
from missionline.report.charts import PALETTE
from missionline.report.section import Section, figure_html
from missionline.workspace import Workspace

COLUMNS = [
    "experiment",
    "variant",
    "units",
    "rate",
    "lift_abs",
    "lift_abs_ci_low",
    "lift_abs_ci_high",
    "p_value",
    "chance_to_win",
    "verdict",
]
VERDICT_COLOURS = {"ship": PALETTE[2], "do not ship": PALETTE[4], "stop: SRM": PALETTE[4]}


def _rows(result: ExperimentResult) -> list[dict[str, object]]:
    """One table row per variant of an analysed experiment."""
    rows: list[dict[str, object]] = []
    for v in result.variants:
        ci = v.lift_abs_ci
        rows.append(
            {
                "experiment": result.experiment,
                "variant": v.variant,
                "units": v.units,
                "rate": v.rate,
                "lift_abs": v.lift_abs,
                "lift_abs_ci_low": ci[0] if ci else None,
                "lift_abs_ci_high": ci[1] if ci else None,
                "p_value": v.p_value,
                "chance_to_win": v.chance_to_win,
                "verdict": result.verdict,
            }
        )
    return rows


def _forest(results: list[ExperimentResult]) -> go.Figure:
    """Each treatment's absolute lift with its interval, one line per experiment and variant."""
    figure = go.Figure()
    for result in results:
        points = [
            (v.variant, v.lift_abs, v.lift_abs_ci)
            for v in result.variants
            if v.lift_abs is not None and v.lift_abs_ci is not None
        ]
        figure.add_scatter(
            name=f"{result.experiment}: {result.verdict}",
            x=[lift for _, lift, _ in points],
            y=[f"{result.experiment} · {name}" for name, _, _ in points],
            mode="markers",
            marker={"size": 10, "color": VERDICT_COLOURS.get(result.verdict, PALETTE[1])},
            error_x={
                "type": "data",
                "symmetric": False,
                "array": [ci[1] - lift for _, lift, ci in points],
                "arrayminus": [lift - ci[0] for _, lift, ci in points],
            },
        )
    figure.add_vline(x=0, line={"color": "#999", "dash": "dot"})
    figure.update_layout(
        title="Lift against the control, with its interval (absolute, in the metric's units)",
        height=max(260, 90 + 50 * sum(len(r.variants) - 1 for r in results)),
        template="plotly_white",
        margin={"l": 220, "r": 30, "t": 50, "b": 40},
        legend={"orientation": "h", "y": -0.25},
    )
    return figure


def _describe(result: ExperimentResult) -> str:
    """One sentence on an experiment: its best treatment's lift, interval and the verdict."""
    treated = [v for v in result.variants if v.lift_abs is not None and v.lift_abs_ci]
    if not treated:
        return f"{result.experiment} has no analysed units yet ({result.verdict})."
    best = next((v for v in treated if v.variant == result.winner), treated[0])
    assert best.lift_abs is not None and best.lift_abs_ci is not None
    points = 100 if result.metric == "conversion" else 1
    unit = " points" if result.metric == "conversion" else ""
    low, high = (points * x for x in best.lift_abs_ci)
    chance = f", chance to beat control {best.chance_to_win:.0%}" if best.chance_to_win else ""
    return (
        f"In {result.experiment}, {best.variant} changes the {result.metric} by "
        f"{points * best.lift_abs:+.3g}{unit} (interval {low:.3g} to {high:.3g}{chance}): "
        f"{result.verdict}."
    )


def experiments_section(ws: Workspace) -> Section | None:
    """Each experiment of the plan with its verdict, a forest plot of lifts and a reading."""
    if not ws.plan.experiments:
        return None
    tables = ws.tables()
    results, failures = [], []
    for experiment in ws.plan.experiments:
        try:
            results.append(analyze_experiment(tables, ws.schema, ws.plan, experiment.id))
        except MissionlineError as exc:  # one broken experiment must not sink the report
            failures.append(f"{experiment.id} cannot be analysed: {exc.message}.")
    verdicts = [r.verdict for r in results]
    summary = ", ".join(f"{verdicts.count(v)} {v}" for v in dict.fromkeys(verdicts))
    declared = len(ws.plan.experiments)
    reading = f"{declared} experiment{'s' if declared > 1 else ''} declared"
    reading += f"; verdicts: {summary}." if summary else "."
    featured = next((r for r in results if r.winner), results[0] if results else None)
    if featured is not None:
        reading += " " + _describe(featured)
    reading = " ".join([reading, *failures])
    charts = [figure_html(_forest(results))] if results else []
    rows = [row for r in results for row in _rows(r)]
    return Section("experiments", "Experiments", reading, charts, COLUMNS, rows)
