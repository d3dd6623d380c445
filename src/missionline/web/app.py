"""The web app: ``create_app`` builds the FastAPI application over one workspace.

Every route needs a logged-in user except the login page, the static assets and the
questionnaire reached by an invitation link (a test walks all routes to prove it). Responses
carry a strict Content-Security-Policy: scripts only from this server, inline chart scripts only
with the response's nonce, nothing from other hosts.
"""

from __future__ import annotations

import gzip
import secrets
from importlib import resources
from pathlib import Path
from urllib.parse import quote

import plotly
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from plotly.offline import get_plotlyjs
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from missionline import __version__
from missionline.errors import MissionlineError
from missionline.web import accounts, api, pages, survey
from missionline.web.auth import Forbidden, LoginRequired
from missionline.web.csrf import CsrfError
from missionline.web.pool import WorkspacePool
from missionline.web.state import AppState, Settings
from missionline.web.uploads import UploadError, problem_json

PACKAGE = Path(str(resources.files("missionline.web")))
PLOTLY_PATH = f"/static/plotly-{plotly.__version__}.min.js"
UPLOAD_PATHS = ("/data/import", f"{api.PREFIX}/imports")
FORM_LIMIT = 1 << 20  # bytes of any other request body (forms, logins)
MULTIPART_OVERHEAD = 64 << 10  # part headers, boundaries and the form fields of an upload
CSP = (
    "default-src 'self'; script-src 'self' 'nonce-{nonce}'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


class BodyLimit:
    """Refuse (413) a request body larger than allowed, while it streams in."""

    def __init__(self, app: ASGIApp, upload_limit: int) -> None:
        self.app = app
        self.upload_limit = upload_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.upload_limit if scope["path"] in UPLOAD_PATHS else FORM_LIMIT
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _too_large(limit)(scope, receive, send)
            return
        seen, started, refused = 0, False, False

        async def counted() -> Message:
            nonlocal seen, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                # answer now, then let the app see a client that went away
                refused = True
                if not started:
                    await _too_large(limit)(scope, receive, send)
                return {"type": "http.disconnect"}
            return message

        async def sending(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the 413 is already sent
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, sending)
        except Exception:
            if not refused:
                raise


def _too_large(limit: int) -> Response:
    return JSONResponse({"error": f"the request is larger than {limit / 1e6:g} MB"}, 413)


def _templates() -> Jinja2Templates:
    """The page templates, with autoescaping and the filters the pages use."""
    templates = Jinja2Templates(directory=str(PACKAGE / "templates"))
    templates.env.autoescape = True
    templates.env.filters["nonced"] = pages.nonced
    templates.env.globals["plotly_path"] = PLOTLY_PATH
    return templates


def _plotly_route(app: FastAPI) -> None:
    """Serve Plotly's script from the package, compressed once, cached by browsers for a year."""
    script = get_plotlyjs().encode()
    packed = gzip.compress(script, 6)
    headers = {"Cache-Control": "public, max-age=31536000, immutable", "Vary": "Accept-Encoding"}

    @app.get(PLOTLY_PATH, include_in_schema=False)
    def plotly_js(request: Request) -> Response:
        if "gzip" in request.headers.get("accept-encoding", ""):
            return Response(
                packed,
                media_type="text/javascript",
                headers={**headers, "Content-Encoding": "gzip"},
            )
        return Response(script, media_type="text/javascript", headers=headers)


def _error_page(request: Request, status: int, title: str, message: str) -> Response:
    """An error as JSON for the API, as a small page for a browser."""
    if request.url.path.startswith(api.PREFIX):
        return JSONResponse({"error": message}, status)
    state: AppState = request.app.state.missionline
    return state.templates.TemplateResponse(
        request,
        "error.html.j2",
        {"title": title, "message": message},
        status_code=status,
    )


def _handlers(app: FastAPI) -> None:
    """How refusals and user mistakes are answered."""

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> Response:
        message = f"This page needs the {exc.role} role; ask an admin if you need it."
        return _error_page(request, 403, "Not allowed", message)

    @app.exception_handler(CsrfError)
    async def csrf_failed(request: Request, exc: CsrfError) -> Response:
        message = "The form expired or came from another site: reload the page and try again."
        return _error_page(request, 403, "Form refused", message)

    @app.exception_handler(MissionlineError)
    async def user_mistake(request: Request, exc: MissionlineError) -> Response:
        status = exc.status if isinstance(exc, UploadError) else 400
        if request.url.path.startswith(api.PREFIX):
            problems = [problem_json(p) for p in exc.problems]
            return JSONResponse({"error": exc.message, "problems": problems}, status)
        return _error_page(request, status, "Cannot show this", exc.render())


class SecurityHeaders:
    """A CSP nonce per response (``request.state.nonce``), and headers that keep pages private.

    Plain ASGI rather than an HTTP middleware: it runs on every response, static ones too.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        nonce = secrets.token_urlsafe(16)
        scope.setdefault("state", {})["nonce"] = nonce
        static = scope["path"].startswith("/static/")

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Content-Security-Policy"] = CSP.format(nonce=nonce)
                headers["X-Content-Type-Options"] = "nosniff"
                headers["Referrer-Policy"] = "same-origin"
                headers["X-Frame-Options"] = "DENY"
                if not static:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, sending)


def create_app(
    workspace_folder: Path | str, db: str | None = None, settings: Settings | None = None
) -> FastAPI:
    """The web app over the workspace in ``workspace_folder`` (its database opened now).

    The connections stay open for the life of the app; whoever created it closes them with
    ``app.state.missionline.pool.close()`` (``missionline serve`` does when uvicorn stops).
    """
    settings = settings or Settings()
    pool = WorkspacePool(Path(workspace_folder), db, settings.readers)

    app = FastAPI(
        title=f"missionline: {pool.plan.company}",
        version=__version__,
        description="The metrics of the missionline CLI as JSON, and imports by upload.",
        docs_url=None,  # the interactive docs load scripts from a CDN; no external requests
        redoc_url=None,
        openapi_url=None,  # served by the API router, behind authentication
    )
    app.state.missionline = AppState(settings, pool, _templates())
    _plotly_route(app)
    app.mount("/static", StaticFiles(directory=str(PACKAGE / "static")), name="static")
    app.include_router(accounts.router)
    app.include_router(pages.router)
    app.include_router(survey.router)
    app.include_router(api.api_router())
    _handlers(app)
    app.add_middleware(SecurityHeaders)
    upload_limit = settings.upload_limit_mb * 1e6 + settings.mapping_limit_kb * 1e3
    app.add_middleware(BodyLimit, upload_limit=int(upload_limit) + MULTIPART_OVERHEAD)
    return app
