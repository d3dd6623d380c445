"""The dashboard pages (Overview, Process, Plan, Customers, Initiatives, Alignment, Data).

They are server-rendered from the report's sections.

Each section is the HTML report's own builder (:mod:`missionline.report`) run on the
workspace narrowed by the page's filters, so a page shows the same numbers, charts and
readings as ``missionline report`` and the CLI. Each section is cached on its own per filters
and data version (see :mod:`missionline.web.cache`): the alignment index computed for the
Overview is the Alignment page's too, and a page whose other sections are cached computes only
the missing ones, all in one snapshot.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import pandas as pd
from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from missionline.cli.output import records
from missionline.cli.plan import checked_plan
from missionline.data.database import LOADS_TABLE
from missionline.data.importer import LoadReport
from missionline.data.schema import LOAD_ORDER
from missionline.errors import MissionlineError
from missionline.report.alignment_section import alignment_section, survey_section
from missionline.report.attribution_section import attribution_section, initiative_roi_section
from missionline.report.cascade_section import capacity_section, cascade_section, pacing_section
from missionline.report.clv_section import clv_section
from missionline.report.customers_section import segments_section, top_customers_section
from missionline.report.experiments_section import experiments_section
from missionline.report.flow_section import leakage_section, velocity_section
from missionline.report.html import funnel_section
from missionline.report.initiatives_section import initiatives_section
from missionline.report.lifecycle_section import lifecycle_section
from missionline.report.plan_sections import linkage_section, mission_section, verification_section
from missionline.report.revenue_section import inputs_section, pipeline_section
from missionline.report.section import Section
from missionline.report.sla_section import sla_section
from missionline.report.wave_section import wave_section
from missionline.web import csrf
from missionline.web.auth import Principal
from missionline.web.filters import Filters, filtered
from missionline.web.invites import invite_path, new_invite
from missionline.web.scenarios import scenarios_section
from missionline.web.state import AppState, app_state, page_role
from missionline.web.store import INVITE_DAYS
from missionline.web.uploads import import_uploads
from missionline.workspace import PLAN_FILE, Workspace

Builder = Callable[[Workspace], Section | None]


@dataclass(frozen=True)
class Panel:
    """A section as a page shows it: the section, or why there is none."""

    id: str
    title: str
    section: Section | None
    note: str = ""


def open_breaches_section(ws: Workspace) -> Section | None:
    """Hand-offs waiting beyond their SLA now, by owner: the morning list."""
    if not any(s.sla for s in ws.plan.lifecycle.stages):
        return None
    frame = ws.open_breaches()
    if frame.empty:
        reading = "No hand-off is waiting beyond its SLA."
    else:
        owners = frame["owner_name"].fillna(frame["owner_id"]).fillna("(no owner)")
        top = owners.value_counts()
        reading = (
            f"{len(frame):,} hand-offs are waiting beyond their SLA; {top.index[0]} has the "
            f"most ({int(top.iloc[0]):,}). The longest has waited "
            f"{frame['hours_waiting'].max() / 24:.1f} days."
        )
    return Section(
        "open_breaches", "Overdue hand-offs", reading, [], list(frame.columns), records(frame)
    )


PAGES: dict[str, tuple[tuple[str, str, Builder], ...]] = {
    "overview": (
        ("mission", "Mission and targets", mission_section),
        ("alignment", "Alignment index", alignment_section),
    ),
    "process": (
        ("funnel", "Funnel", funnel_section),
        ("velocity", "Velocity", velocity_section),
        ("leakage", "Leakage and recycle", leakage_section),
        ("sla", "Hand-offs and SLAs", sla_section),
        ("open_breaches", "Overdue hand-offs", open_breaches_section),
        ("pipeline", "Pipeline", pipeline_section),
        ("inputs", "Inputs and cost per stage", inputs_section),
        ("wave", "Revenue wave", wave_section),
    ),
    "plan": (
        ("verification", "Verification", verification_section),
        ("linkage", "Linkage to the mission", linkage_section),
        ("cascade", "Cascade", cascade_section),
        ("pacing", "Pacing", pacing_section),
        ("scenarios", "Scenarios", scenarios_section),
        ("capacity", "Capacity", capacity_section),
    ),
    "customers": (
        ("lifecycle", "Lifecycle and retention", lifecycle_section),
        ("clv", "Customer lifetime value", clv_section),
        ("top_customers", "Top customers", top_customers_section),
        ("segments", "Segment priorities", segments_section),
    ),
    "initiatives": (
        ("initiatives", "Initiatives", initiatives_section),
        ("experiments", "Experiments", experiments_section),
        ("attribution", "Attribution", attribution_section),
        ("initiative_roi", "Initiative ROI", initiative_roi_section),
    ),
    "alignment": (
        ("alignment", "Alignment index", alignment_section),
        ("survey", "Questionnaire", survey_section),
    ),
}


def panel(view: Workspace, section_id: str, title: str, build: Builder) -> Panel:
    """One section for the view (a section the data cannot support says why)."""
    try:
        section = build(view)
    except MissionlineError as exc:
        return Panel(section_id, title, None, exc.message)
    note = "" if section is not None else "No data for this view."
    return Panel(section_id, title, section, note)


def panels(state: AppState, page: str, filters: Filters) -> list[Panel]:
    """The page's sections for these filters, each from the cache or computed now.

    The missing ones are computed in one snapshot, opened before any of them is claimed, so
    whoever computes a section already holds a connection: requests waiting for it (holding
    theirs) cannot leave it without one (see :meth:`missionline.web.cache.Cache.get`).
    """
    version = state.pool.version  # read before the snapshot starts, as AppState.read does
    entries = PAGES[page]
    keys = [("section", section_id, filters.key()) for section_id, _, _ in entries]
    found = [state.cache.peek(version, key) for key in keys]
    if all(hit for hit, _ in found):
        return [value for _, value in found]
    with state.pool.snapshot() as ws:
        # one view for the page: what a report builder memoises per workspace (the cascade's
        # pacing) is shared by this page's sections, and dies with the snapshot
        view = filtered(ws, filters)
        return [
            state.cache.get(version, key, partial(panel, view, *entry))
            for key, entry in zip(keys, entries, strict=True)
        ]


def filter_choices(state: AppState) -> dict[str, list[tuple[str, str]]]:
    """The values each filter offers, as (value, label): from the plan and the data."""

    def compute(ws: Workspace) -> dict[str, list[tuple[str, str]]]:
        tables, plan = ws.tables(), ws.plan
        accounts, people, owners = tables["accounts"], tables["people"], tables["owners"]
        events = tables["stage_events"]

        def distinct(column: Any) -> list[str]:
            values = column.name("v").as_table().distinct().to_pandas()["v"]
            return sorted(str(v) for v in values.dropna())

        named = {m.id: m.name for m in [*plan.markets, *plan.segments]}
        span = events.aggregate(lo=events.entered_at.min(), hi=events.entered_at.max())
        lo, hi = span.to_pandas().iloc[0]
        periods: list[tuple[str, str]] = []
        if pd.notna(lo):
            for year in range(pd.Timestamp(lo).year, pd.Timestamp(hi).year + 1):
                periods.append((str(year), str(year)))
                periods += [(f"{year}-Q{q}", f"{year}-Q{q}") for q in range(1, 5)]
        people_owners = owners.select("owner_id", "name").to_pandas().sort_values("owner_id")
        return {
            "period": periods,
            "market": [(v, named.get(v, v)) for v in distinct(accounts.market)],
            "segment": [(v, named.get(v, v)) for v in distinct(accounts.segment)],
            "channel": [(v, v) for v in distinct(people.source_channel)],
            "owner": [
                (str(o), f"{n} ({o})" if isinstance(n, str) else str(o))
                for o, n in people_owners.itertuples(index=False)
            ],
        }

    return state.read(("filter-choices",), compute)


def nonced(html: str, nonce: str) -> Markup:
    """Trusted chart or map HTML with the page's CSP nonce on its inline scripts."""
    return Markup(re.sub(r"<script(?=[\s>])", f'<script nonce="{nonce}"', html))


def render(
    request: Request, template: str, principal: Principal, status: int = 200, **context: Any
) -> HTMLResponse:
    """Render a page template with what every page needs (user, CSRF token, company)."""
    state = app_state(request)
    assert principal.session is not None
    context.setdefault("filters", Filters())
    return state.templates.TemplateResponse(
        request,
        template,
        {
            "user": principal.user,
            "csrf_token": principal.session.csrf,
            "company": state.pool.plan.company,
            "max_rows": state.settings.max_table_rows,
            **context,
        },
        status_code=status,
    )


def dashboard(
    request: Request,
    principal: Principal,
    page: str,
    key: tuple[object, ...] = (),
    context: Callable[[AppState], dict[str, Any]] | None = None,
    extra: dict[str, Any] | None = None,
) -> HTMLResponse:
    """A dashboard page: the filter bar and the page's sections (``extra``: per response).

    The page's content is rendered once per filters, data version and ``key`` from the cached
    sections, and cached as HTML; each response adds its own CSP nonce to the chart scripts.
    """
    state = app_state(request)
    filters = Filters.parse(request.query_params)

    def content() -> str:
        extra = context(state) if context else {}
        template = state.templates.get_template(f"{page}.html.j2")
        return template.render(
            panels=panels(state, page, filters),
            filters=filters,
            max_rows=state.settings.max_table_rows,
            **extra,
        )

    html = state.cache.get(state.pool.version, ("page", page, filters.key(), *key), content)
    choices = filter_choices(state)
    return render(
        request,
        "dashboard.html.j2",
        principal,
        page=page,
        content=nonced(html, request.state.nonce),
        filters=filters,
        choices=choices,
        **(extra or {}),
    )


router = APIRouter(include_in_schema=False)
viewer = Depends(page_role("viewer"))
analyst = Depends(page_role("analyst"))


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, principal: Principal = viewer) -> HTMLResponse:
    """The mission map with status, targets against actuals, and the alignment index."""
    return dashboard(request, principal, "overview")


@router.get("/process", response_class=HTMLResponse)
def process(request: Request, principal: Principal = viewer) -> HTMLResponse:
    """The revenue process: funnel, velocity, leakage, SLAs, pipeline, inputs, wave."""
    return dashboard(request, principal, "process")


@router.get("/customers", response_class=HTMLResponse)
def customers(request: Request, principal: Principal = viewer) -> HTMLResponse:
    """Lifecycle and retention, lifetime value, top customers and segment priorities."""
    return dashboard(request, principal, "customers")


@router.get("/initiatives", response_class=HTMLResponse)
def initiatives(request: Request, principal: Principal = viewer) -> HTMLResponse:
    """The initiatives, experiments with verdicts, attribution and initiative ROI."""
    return dashboard(request, principal, "initiatives")


@router.get("/alignment", response_class=HTMLResponse)
def alignment(request: Request, principal: Principal = viewer) -> HTMLResponse:
    """The alignment index, its components and drivers, and the questionnaire."""
    return alignment_page(request, principal)


def alignment_page(request: Request, principal: Principal, link: str | None = None) -> HTMLResponse:
    """The Alignment page; admins also get the invitation form (and the link just created)."""
    functions = [f.id for f in app_state(request).pool.plan.functions]
    extra = {"functions": functions, "invite_link": link}
    return dashboard(request, principal, "alignment", extra=extra)


@router.post("/alignment/invite", response_class=HTMLResponse)
def alignment_invite(
    request: Request,
    respondent: str = Form(""),
    function: str = Form(""),
    days: float = Form(INVITE_DAYS),
    csrf_token: str = Form(""),
    principal: Principal = Depends(page_role("admin")),
) -> HTMLResponse:
    """Create a questionnaire invitation and show its link once."""
    csrf.check(principal, request, csrf_token)
    state = app_state(request)
    with state.pool.store_writer() as store:
        secret = new_invite(store, state.pool.plan, respondent, function, days)
    return alignment_page(request, principal, invite_path(secret))


@router.get("/plan", response_class=HTMLResponse)
def plan(request: Request, principal: Principal = viewer) -> HTMLResponse:
    """The plan rendered readably, its check findings, verification and linkage."""
    state = app_state(request)
    modified = (state.pool.folder / PLAN_FILE).stat().st_mtime_ns

    def context(state: AppState) -> dict[str, Any]:
        # plan check reads the file as it is now, so the cache key carries its mtime
        findings = checked_plan(state.pool.folder, state.pool.url).as_json()
        return {"plan": state.pool.plan, "findings": findings}

    return dashboard(request, principal, "plan", (modified,), context)


def data_status(state: AppState) -> dict[str, Any]:
    """Rows per canonical table and the latest loads."""

    def compute(ws: Workspace) -> dict[str, Any]:
        counts = {name: int(ws.db.table(name).count().to_pandas()) for name in LOAD_ORDER}
        loads = ws.db.table(LOADS_TABLE)
        latest = loads.order_by(loads.loaded_at.desc()).limit(50).to_pandas()
        return {"counts": counts, "loads": records(latest)}

    return state.read(("data-status",), compute)


def data_page(
    request: Request,
    principal: Principal,
    report: LoadReport | None = None,
    error: MissionlineError | None = None,
) -> HTMLResponse:
    """The Data page, with the outcome of an import when there was one."""
    status = data_status(app_state(request))
    return render(
        request,
        "data.html.j2",
        principal,
        status=getattr(error, "status", 400) if error is not None else 200,
        page="data",
        data=status,
        report=report,
        error=error,
        tables=LOAD_ORDER,
    )


@router.get("/data", response_class=HTMLResponse)
def data(request: Request, principal: Principal = viewer) -> HTMLResponse:
    """Imports, row counts and the latest loads."""
    return data_page(request, principal)


@router.post("/data/import", response_class=HTMLResponse)
def data_import(
    request: Request,
    files: list[UploadFile] = File(default_factory=list),
    mapping: UploadFile | None = File(None),
    replace: bool = Form(False),
    csrf_token: str = Form(""),
    principal: Principal = analyst,
) -> HTMLResponse:
    """Import uploaded files; show the validation report (nothing is written on error)."""
    csrf.check(principal, request, csrf_token)
    try:
        report = import_uploads(app_state(request), files, mapping, replace)
    except MissionlineError as exc:
        return data_page(request, principal, error=exc)
    return data_page(request, principal, report=report)
