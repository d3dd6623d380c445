"""The HTML report: one self-contained file (Plotly's script inlined, no external requests)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import jinja2
import pandas as pd
from plotly.offline import get_plotlyjs

from missionline.cli.output import records
from missionline.report.alignment_section import alignment_section, survey_section
from missionline.report.attribution_section import attribution_section, initiative_roi_section
from missionline.report.cascade_section import capacity_section, cascade_section, pacing_section
from missionline.report.charts import conversion_by_chart, funnel_chart
from missionline.report.clv_section import clv_section
from missionline.report.customers_section import segments_section, top_customers_section
from missionline.report.experiments_section import experiments_section
from missionline.report.flow_section import leakage_section, velocity_section
from missionline.report.initiatives_section import initiatives_section
from missionline.report.lifecycle_section import lifecycle_section
from missionline.report.plan_sections import (
    linkage_section,
    mission_section,
    verification_section,
)
from missionline.report.revenue_section import inputs_section, pipeline_section
from missionline.report.section import Section, figure_html
from missionline.report.sla_section import sla_section
from missionline.report.wave_section import wave_section
from missionline.workspace import Progress, Workspace

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("missionline.report", "templates"),
    autoescape=jinja2.select_autoescape(["html", "j2"]),
)


def _funnel_reading(frame: pd.DataFrame) -> str:
    """One or two sentences a reader can take away from the funnel."""
    steps = frame.dropna(subset=["conversion_to_next"])
    steps = steps[steps["entries"] > 0]
    if steps.empty:
        return "No stage entries yet: import stage events to see the funnel."
    worst = steps.sort_values("conversion_to_next").iloc[0]
    first, last = frame.iloc[0], frame[frame["entries"] > 0].iloc[-1]
    return (
        f"{int(first['entries']):,} records entered {first['stage']}; "
        f"{int(last['entries']):,} reached {last['stage']}. The weakest step is "
        f"{worst['stage']} → next at {worst['conversion_to_next']:.1%}."
    )


def funnel_section(ws: Workspace) -> Section:
    """The funnel section: chart, by-channel comparison and table."""
    frame = ws.funnel()
    charts = [figure_html(funnel_chart(frame, f"{ws.plan.company}: funnel (cohort basis)"))]
    if ws.db.table("people").count().execute():
        by_channel = ws.funnel(by="channel")
        charts.append(
            figure_html(
                conversion_by_chart(by_channel, "channel", "Step conversion by source channel")
            )
        )
    return Section(
        "funnel", "Funnel", _funnel_reading(frame), charts, list(frame.columns), records(frame)
    )


# The report's sections in reading order: the mission and its alignment first, then the
# process from first touch to revenue, then customers, evidence and the plan's own checks.
SECTIONS: list[Callable[[Workspace], Section | None]] = [
    mission_section,
    alignment_section,
    cascade_section,
    pacing_section,
    capacity_section,
    funnel_section,
    velocity_section,
    leakage_section,
    sla_section,
    pipeline_section,
    inputs_section,
    wave_section,
    lifecycle_section,
    clv_section,
    top_customers_section,
    segments_section,
    experiments_section,
    attribution_section,
    initiative_roi_section,
    initiatives_section,
    survey_section,
    verification_section,
    linkage_section,
]


def build_report(ws: Workspace, progress: Progress | None = None) -> str:
    """Return the report's HTML; ``progress`` hears of each section as it is built."""
    sections = []
    for i, build in enumerate(SECTIONS):
        if progress:
            progress("report", i / len(SECTIONS))
        if (section := build(ws)) is not None:
            sections.append(section)
    if progress:
        progress("report", 1.0)
    template = _ENV.get_template("report.html.j2")
    return template.render(
        plan=ws.plan,
        sections=sections,
        generated=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        plotly_js=get_plotlyjs(),
    )


def write_report(ws: Workspace, path: Path | str, progress: Progress | None = None) -> Path:
    """Write the report to ``path`` and return it."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(build_report(ws, progress), encoding="utf-8")
    return out
