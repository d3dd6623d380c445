"""The app's settings and shared state, and the request dependencies built on them."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import TypeVar

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.templating import Jinja2Templates

from missionline.web.auth import (
    LoginRequired,
    Principal,
    RateLimiter,
    credentials,
    lookup,
    require_role,
)
from missionline.web.cache import Cache
from missionline.web.pool import WorkspacePool
from missionline.web.store import Role, digest
from missionline.workspace import Workspace

T = TypeVar("T")
MAX_CALLERS = 10_000  # remembered callers; beyond that the memory starts again
BEARER = HTTPBearer(auto_error=False, description="A token from 'missionline token create'.")


@dataclass(frozen=True)
class Settings:
    """What an operator may tune (``missionline serve`` options set some of these)."""

    secure_cookies: bool = True  # False only for plain http during development (docs/web.md)
    session_hours: float = 12.0
    upload_limit_mb: float = 50.0
    mapping_limit_kb: float = 256.0
    login_attempts: int = 5  # failed logins per client address or user name ...
    login_window_s: float = 900.0  # ... within this many seconds
    readers: int = 8  # read connections to the database
    cache_size: int = 256  # cached results (sections and API answers) of the current data
    max_table_rows: int = 200  # rows of a table shown on a page (the API gives them all)


class AppState:
    """Everything a request handler needs: settings, connections, cache, limiter, templates."""

    def __init__(self, settings: Settings, pool: WorkspacePool, templates: Jinja2Templates):
        self.settings = settings
        self.pool = pool
        self.cache = Cache(settings.cache_size)
        self.limiter = RateLimiter(settings.login_attempts, settings.login_window_s)
        self.templates = templates
        self._callers: dict[tuple[str, str], Principal] = {}
        self._callers_generation = -1
        self._callers_lock = threading.Lock()
        self.after_import: Callable[[], object] | None = None  # set when pages are warmed

    def read(self, key: Hashable, compute: Callable[[Workspace], T]) -> T:
        """``compute(ws)`` for ``key`` at the current data version, cached.

        Only a miss opens a snapshot. The version is read before the snapshot starts, and
        moves only after an import has committed, so a result is never stored under a
        version older than its data's (see :meth:`WorkspacePool.importing`).
        """

        def in_snapshot() -> T:
            with self.pool.snapshot() as ws:
                return compute(ws)

        return self.cache.get(self.pool.version, key, in_snapshot)

    def caller(self, request: Request) -> Principal | None:
        """The caller of ``request``, remembered until the user store next changes.

        The server is the only writer of its DuckDB file, so every change to users, tokens
        and sessions goes through :meth:`WorkspacePool.store_writer`, which moves
        ``store_generation``; any move empties this memory.
        """
        found = credentials(request)
        if found is None:
            return None
        key = (found[0], digest(found[1]))
        generation = self.pool.store_generation
        with self._callers_lock:
            if generation != self._callers_generation:
                self._callers.clear()
                self._callers_generation = generation
            known = self._callers.get(key)
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        if known is not None and (known.session is None or known.session.expires_at > now):
            return known
        with self.pool.store() as store:
            principal = lookup(store, *found)
        with self._callers_lock:
            if principal is not None and self.pool.store_generation == generation:
                if len(self._callers) >= MAX_CALLERS:
                    self._callers.clear()
                self._callers[key] = principal
        return principal


def app_state(request: Request) -> AppState:
    """The state of the app serving ``request``."""
    state: AppState = request.app.state.missionline
    return state


def page_user(request: Request) -> Principal:
    """A logged-in browser, or a redirect to the login page."""
    principal = app_state(request).caller(request)
    if principal is None or principal.session is None:
        raise LoginRequired
    return principal


def api_user(
    request: Request, _bearer: HTTPAuthorizationCredentials | None = Depends(BEARER)
) -> Principal:
    """A caller with a valid bearer token or session, else 401."""
    principal = app_state(request).caller(request)
    if principal is None:
        raise HTTPException(401, "authentication required", {"WWW-Authenticate": "Bearer"})
    return principal


def page_role(role: Role) -> Callable[[Principal], Principal]:
    """A dependency: a logged-in browser whose user has ``role`` (else 403)."""

    def dependency(principal: Principal = Depends(page_user)) -> Principal:
        return require_role(principal, role, api=False)

    return dependency


def api_role(role: Role) -> Callable[[Principal], Principal]:
    """A dependency: an API caller whose user has ``role`` (else 403)."""

    def dependency(principal: Principal = Depends(api_user)) -> Principal:
        return require_role(principal, role, api=True)

    return dependency
