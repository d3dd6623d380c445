"""The REST API: ``/api/v1/<command>`` for every metric command of the CLI, built from one registry.

Each entry names a CLI command and the function that gives its ``--format json`` output; the
query parameters are read from the command's own options (name, type, default, help), so the
API cannot drift from the CLI: ``missionline sla --by team --open`` is
``GET /api/v1/sla?by=team&open=true``, repeatable options repeat (``?by=segment&by=channel``),
and the answer is the JSON the CLI prints. ``--workspace``, ``--db`` and ``--format`` are the
server's, and options that only shape the terminal view or the exit status are left out.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, get_args, get_type_hints

import pandas as pd
import typer
from fastapi import APIRouter, Depends, File, Form, Query, Request, Response, UploadFile

from missionline.cli import (
    alignment,
    attribution,
    cascade,
    cascade_payloads,
    clv,
    customers,
    experiments,
    lifecycle,
)
from missionline.cli.flow import leakage_command, leakage_frame, velocity_command, velocity_frame
from missionline.cli.initiatives import initiatives_command
from missionline.cli.metrics import funnel, funnel_frame, verify, verify_frames, verify_payload
from missionline.cli.options import parse_as_of
from missionline.cli.output import records
from missionline.cli.plan import check, checked_plan, linkage_command, linkage_payload
from missionline.cli.revenue import inputs_command, inputs_frame, pipeline_command, pipeline_frame
from missionline.cli.sla import sla_command, sla_frame
from missionline.cli.wave import wave_command, wave_frames, wave_payload
from missionline.customers import segment_priorities, top_customers
from missionline.errors import MissionlineError
from missionline.models.initiatives import initiative_register
from missionline.web import csrf
from missionline.web.auth import Principal
from missionline.web.state import api_role, app_state
from missionline.web.uploads import import_uploads, load_json
from missionline.workspace import Workspace

PREFIX = "/api/v1"
SERVER_OPTIONS = ("workspace", "db", "fmt")


@dataclass(frozen=True)
class ApiCommand:
    """One CLI command served by the API."""

    name: str  # as typed after `missionline`, e.g. "plan check"
    cli: Callable[..., None]  # the command function: its options become the query parameters
    payload: Callable[..., Any]  # (workspace, **options) -> what --format json prints
    view_only: tuple[str, ...] = ()  # options that change only the table view or exit status
    # options that read or write files on the CLI user's machine: never taken from a request
    local_only: tuple[str, ...] = ()
    cached: bool = True  # False when the answer reads more than the database (the plan file)
    # upper bounds the API adds to unbounded integer options, so one request cannot exhaust
    # the server (the CLI user owns their machine; the server's is shared)
    limits: tuple[tuple[str, int], ...] = ()

    @property
    def path(self) -> str:
        """The route, e.g. ``/api/v1/plan/check``."""
        return f"{PREFIX}/{self.name.replace(' ', '/')}"


def _rows(frame: pd.DataFrame | tuple[pd.DataFrame, str]) -> list[dict[str, Any]]:
    """The JSON rows of a command that prints one frame (some also return its title)."""
    return records(frame[0] if isinstance(frame, tuple) else frame)


def _segments(ws: Workspace, as_of: str | None) -> dict[str, Any]:
    """What ``segments --format json`` prints."""
    result = segment_priorities(ws.tables(), ws.schema, ws.plan, parse_as_of(as_of))
    return {
        "formula": result.formula,
        "segments": records(result.table),
        "sensitivity": records(result.sensitivity),
        "findings": [finding.to_dict() for finding in result.findings],
    }


def _initiatives(ws: Workspace, model: StrEnum, as_of: str | None) -> list[dict[str, Any]]:
    """What ``initiatives --format json`` prints (the lists stay JSON arrays)."""
    moment = parse_as_of(as_of)
    return records(initiative_register(ws.tables(), ws.schema, ws.plan, model.value, moment))


COMMANDS = (
    ApiCommand("funnel", funnel, lambda ws, **o: _rows(funnel_frame(ws, **o))),
    ApiCommand(
        "verify",
        verify,
        lambda ws, **o: verify_payload(*verify_frames(ws, **o)),
        limits=(("sample", 1000),),
    ),
    ApiCommand("velocity", velocity_command, lambda ws, **o: _rows(velocity_frame(ws, **o))),
    ApiCommand("leakage", leakage_command, lambda ws, **o: _rows(leakage_frame(ws, **o))),
    ApiCommand("sla", sla_command, lambda ws, **o: _rows(sla_frame(ws, **o))),
    ApiCommand("pipeline", pipeline_command, lambda ws, **o: _rows(pipeline_frame(ws, **o))),
    ApiCommand("inputs", inputs_command, lambda ws, **o: _rows(inputs_frame(ws, **o))),
    ApiCommand(
        "wave",
        wave_command,
        lambda ws, **o: wave_payload(*wave_frames(ws, **o)),
        view_only=("lag", "show_collisions"),
        limits=(("max_lag", 520),),
    ),
    ApiCommand(
        "plan check",
        check,
        lambda ws: checked_plan(ws.folder, ws.db.url).as_json(),
        view_only=("strict",),
        cached=False,
    ),
    ApiCommand("plan linkage", linkage_command, lambda ws: linkage_payload(ws.linkage())),
    ApiCommand(
        "lifecycle",
        lifecycle.lifecycle_command,
        lambda ws, view, **o: lifecycle.lifecycle_payload(
            lifecycle.lifecycle_frames(ws, view=view, **o), view
        ),
    ),
    ApiCommand(
        "clv fit",
        clv.fit_command,
        clv.fit_payload,
        view_only=("plot",),
        local_only=(
            "summary",
            "transactions",
            "survival",
            "customer_col",
            "date_col",
            "amount_col",
        ),
    ),
    ApiCommand(
        "clv predict",
        clv.predict_command,
        clv.predict_payload,
        local_only=("summary", "transactions", "customer_col", "date_col", "amount_col", "out"),
    ),
    ApiCommand(
        "experiment analyze",
        experiments.analyze_command,
        experiments.analyze_payload,
        local_only=("counts", "control", "metric", "direction"),
    ),
    ApiCommand(
        "experiment plan",
        experiments.plan_command,
        lambda ws, **o: experiments.plan_payload(ws, **o),
        limits=(("variants", 100), ("days", 3660)),
    ),
    ApiCommand(
        "attribution",
        attribution.attribution_command,
        attribution.attribution_payload,
        local_only=("paths_file",),
        limits=(("samples", 100_000),),
    ),
    ApiCommand(
        "alignment",
        alignment.alignment_command,
        lambda ws, period, component: alignment.alignment_payload(
            alignment.alignment_results(ws, period, component), period, component
        ),
    ),
    ApiCommand("survey", alignment.survey, alignment.survey_payload),
    ApiCommand("cascade", cascade.cascade_command, cascade_payloads.cascade_payload),
    ApiCommand("cascade check", cascade.check_command, cascade_payloads.check_payload),
    ApiCommand(
        "pacing",
        cascade.pacing_command,
        cascade_payloads.pacing_payload,
        limits=(("draws", 100_000),),
    ),
    ApiCommand(
        "scenario",
        cascade.scenario_command,
        cascade_payloads.scenario_payload,
        local_only=("save",),
        cached=False,  # the plan's scenarios are read from the plan file
    ),
    ApiCommand("capacity", cascade.capacity_command, cascade_payloads.capacity_payload),
    ApiCommand(
        "customers top",
        customers.top_command,
        lambda ws, per, n, horizon_years, as_of: records(
            top_customers(
                ws.tables(), ws.schema, ws.plan, per.value, n, horizon_years, parse_as_of(as_of)
            )
        ),
        limits=(("n", 10_000), ("horizon_years", 50)),
    ),
    ApiCommand("segments", customers.segments_command, lambda ws, as_of: _segments(ws, as_of)),
    ApiCommand("initiatives", initiatives_command, _initiatives),
)


def cli_options(command: Callable[..., None]) -> list[tuple[str, list[str], Any]]:
    """(parameter name, option names, default) of each option and argument of a CLI command.

    An argument is named by its parameter name; a required one has the default ``...``.
    """
    app = typer.Typer(add_completion=False)
    app.command()(command)
    params = typer.main.get_command(app).params
    # typer may vendor its own click: the options are recognised by what they say they are
    return [
        (p.name, list(p.opts), ... if p.required else p.default)
        for p in params
        if p.param_type_name in ("option", "argument")
    ]


def query_parameters(api: ApiCommand) -> list[inspect.Parameter]:
    """The endpoint's query parameters: the command's options, under their CLI names."""
    hints = get_type_hints(api.cli, include_extras=True)
    out = []
    for name, opts, default in cli_options(api.cli):
        if name in (*SERVER_OPTIONS, *api.view_only, *api.local_only):
            continue
        base, info = get_args(hints[name])[:2]  # Annotated[type, typer.Option(...)]
        annotation = base if base in (bool, int) or default is ... else base | None
        if base is bool:
            default = bool(default)
        query = Query(
            default,
            alias=max(opts, key=len).lstrip("-"),
            description=info.help,
            ge=info.min,
            le=dict(api.limits).get(name, info.max),
        )
        kind = inspect.Parameter.KEYWORD_ONLY
        out.append(inspect.Parameter(name, kind, default=query, annotation=annotation))
    return out


def _json(payload: Any) -> Response:
    """A JSON response with exactly the text the CLI would print (NaN stays as the CLI has it)."""
    return Response(json.dumps(payload), media_type="application/json")


def _endpoint(api: ApiCommand) -> Callable[..., Response]:
    """The route function of one command, with a signature FastAPI reads for its parameters."""
    parameters = query_parameters(api)

    def endpoint(request: Request, principal: Principal, **options: Any) -> Response:
        _refuse_nul(options)
        key = ("api", api.name, tuple(sorted((k, _hashable(v)) for k, v in options.items())))

        state = app_state(request)
        if not api.cached:
            with state.pool.snapshot() as ws:
                return _json(api.payload(ws, **options))

        def compute(ws: Workspace) -> Any:
            return api.payload(ws, **options)

        return _json(state.read(key, compute))

    common = [
        inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request),
        inspect.Parameter(
            "principal",
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            annotation=Principal,
            default=Depends(api_role("viewer")),
        ),
    ]
    endpoint.__signature__ = inspect.Signature([*common, *parameters])  # type: ignore[attr-defined]
    endpoint.__name__ = api.name.replace(" ", "_")
    endpoint.__doc__ = inspect.getdoc(api.cli)
    return endpoint


def _refuse_nul(options: dict[str, Any]) -> None:
    """Refuse a NUL in a text parameter: the SQL the engine compiles cannot carry one."""
    for name, value in options.items():
        values = value if isinstance(value, list) else [value]
        if any(isinstance(v, str) and "\x00" in v for v in values):
            raise MissionlineError(f"the {name} parameter contains a NUL character")


def _hashable(value: Any) -> Any:
    """Lists (repeated options) as tuples, for the cache key."""
    return tuple(value) if isinstance(value, list) else value


def api_router() -> APIRouter:
    """Every API route: one per registered command, the upload import, the OpenAPI document."""
    router = APIRouter(tags=["metrics"])
    for api in COMMANDS:
        router.add_api_route(
            api.path,
            _endpoint(api),
            methods=["GET"],
            summary=f"missionline {api.name}",
            response_class=Response,
            responses={200: {"content": {"application/json": {}}}, **ERRORS},
        )
    router.add_api_route(
        f"{PREFIX}/imports",
        import_endpoint,
        methods=["POST"],
        tags=["data"],
        summary="Validate and load uploaded CSV or Parquet files (nothing written on error)",
        responses=ERRORS,
    )
    router.add_api_route(
        f"{PREFIX}/openapi.json", openapi_document, methods=["GET"], include_in_schema=False
    )
    return router


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "A mistake in the request: the message says what was expected."},
    401: {"description": "No valid bearer token or session."},
    403: {"description": "The user's role does not allow this."},
}


def import_endpoint(
    request: Request,
    files: list[UploadFile] = File(description="CSV or Parquet files."),
    mapping: UploadFile | None = File(None, description="A mapping YAML for non-canonical files."),
    replace: bool = Form(False, description="Replace the tables' contents instead of merging."),
    principal: Principal = Depends(api_role("analyst")),
) -> Response:
    """Validate the files and load them in one transaction; on any error nothing is written."""
    csrf.check(principal, request)
    state = app_state(request)
    return _json(load_json(import_uploads(state, files, mapping, replace)))


def openapi_document(
    request: Request, principal: Principal = Depends(api_role("viewer"))
) -> Response:
    """The OpenAPI document of the API (for authenticated callers, like every route)."""
    return _json(request.app.openapi())
