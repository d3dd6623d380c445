"""Who is asking: passwords (argon2), sessions, bearer tokens, roles and the login rate limit.

Pages accept a session cookie; the API accepts a bearer token (``Authorization: Bearer …``) or
the browser's session. Roles are checked on the server for every request: viewer (read),
analyst (read and import), admin (read, import and manage users).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import HTTPException, Request

from missionline.errors import MissionlineError
from missionline.web.store import Role, Session, Store, User

SESSION_COOKIE = "missionline_session"
MIN_PASSWORD = 8
MAX_PASSWORD = 1024
# argon2id with the library's defaults (RFC 9106 low-memory profile); tests may swap in cheaper.
HASHER = PasswordHasher()


def hash_password(password: str) -> str:
    """The argon2 hash of an acceptable password (8 to 1024 characters)."""
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise MissionlineError(
            f"a password needs {MIN_PASSWORD} to {MAX_PASSWORD} characters "
            f"(this one has {len(password)})"
        )
    return HASHER.hash(password)


@cache
def _decoy_hash() -> str:
    """A hash checked for unknown users, so a wrong name takes as long as a wrong password."""
    return HASHER.hash("missionline decoy password")


def verify_password(user: User | None, password: str) -> bool:
    """Whether ``password`` is ``user``'s; False for no user, after the same work."""
    try:
        HASHER.verify(user.password_hash if user else _decoy_hash(), password)
    except (VerificationError, InvalidHashError):
        return False
    return user is not None


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: the user and, for a browser, its session."""

    user: User
    session: Session | None = None


class LoginRequired(Exception):
    """A page was asked for without a valid session: the browser goes to the login page."""


class Forbidden(Exception):
    """The user is logged in but their role does not allow this."""

    def __init__(self, role: Role) -> None:
        super().__init__(role)
        self.role = role


def credentials(request: Request) -> tuple[str, str] | None:
    """What the request authenticates with: ("bearer", token) or ("session", id), or None."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return "bearer", value.strip()
    secret = request.cookies.get(SESSION_COOKIE)
    return ("session", secret) if secret else None


def lookup(store: Store, kind: str, secret: str) -> Principal | None:
    """The user a bearer token or a session id belongs to, or None."""
    if kind == "bearer":
        user = store.token_user(secret)
        return Principal(user) if user else None
    session = store.session(secret)
    return Principal(session.user, session) if session else None


def require_role(principal: Principal, role: Role, api: bool) -> Principal:
    """Return ``principal`` when its role allows ``role``; else refuse (403)."""
    if principal.user.can(role):
        return principal
    if api:
        raise HTTPException(403, f"this needs the {role} role", {"X-Missionline-Role": role})
    raise Forbidden(role)


class RateLimiter:
    """At most ``limit`` failed logins per key (client address, user name) in ``window`` s."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float] = time.monotonic):
        self.limit = limit
        self.window = window
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.setdefault(key, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        return times

    def retry_after(self, keys: Iterable[str]) -> float:
        """Seconds until a blocked key may try again; 0 when none is blocked."""
        now = self.clock()
        with self._lock:
            waits = [
                times[0] + self.window - now
                for key in keys
                if len(times := self._recent(key, now)) >= self.limit
            ]
        return max(waits, default=0.0)

    def failed(self, keys: Iterable[str]) -> None:
        """Count a failed attempt against every key."""
        now = self.clock()
        with self._lock:
            for key in keys:
                self._recent(key, now).append(now)

    def succeeded(self, keys: Iterable[str]) -> None:
        """Forget the failures of these keys after a successful login."""
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)
