"""Users, API tokens and sessions, kept in the workspace's database.

Four tables, created on first use: ``missionline_users`` (name, role, argon2 password hash),
``missionline_tokens``, ``missionline_sessions`` and ``missionline_invites`` (questionnaire
invitations). Tokens, session ids and invitation tokens are random secrets given to their holder
once; only their SHA-256 digest is stored, so a copy of the database does not let anyone in.
Every statement is constant text with ``?`` parameters.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Any, Literal, cast, get_args

from missionline.data.database import Database
from missionline.errors import MissionlineError, WorkspaceError

Role = Literal["viewer", "analyst", "admin"]
ROLES: tuple[Role, ...] = get_args(Role)
USER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
TOKEN_PREFIX = "mlt_"

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS missionline_users "
    "(name VARCHAR, role VARCHAR, password_hash VARCHAR, created_at TIMESTAMP)",
    "CREATE TABLE IF NOT EXISTS missionline_tokens "
    "(id VARCHAR, user_name VARCHAR, digest VARCHAR, created_at TIMESTAMP)",
    "CREATE TABLE IF NOT EXISTS missionline_sessions "
    "(digest VARCHAR, user_name VARCHAR, csrf VARCHAR, created_at TIMESTAMP, "
    "expires_at TIMESTAMP)",
    "CREATE TABLE IF NOT EXISTS missionline_invites "
    "(digest VARCHAR, respondent VARCHAR, function VARCHAR, created_at TIMESTAMP, "
    "expires_at TIMESTAMP, used_at TIMESTAMP)",
)
INVITE_DAYS = 30.0  # how long a questionnaire invitation stays valid by default


@dataclass(frozen=True)
class User:
    """A person who may log in, and what they may do."""

    name: str
    role: Role
    password_hash: str
    created_at: dt.datetime

    def can(self, role: Role) -> bool:
        """Whether this user has ``role`` or a higher one (viewer < analyst < admin)."""
        return ROLES.index(self.role) >= ROLES.index(role)


@dataclass(frozen=True)
class TokenInfo:
    """An API token as listed: never the secret itself."""

    id: str
    user_name: str
    created_at: dt.datetime


@dataclass(frozen=True)
class Session:
    """A logged-in browser: its user and the CSRF token of its forms."""

    user: User
    csrf: str
    expires_at: dt.datetime


@dataclass(frozen=True)
class Invite:
    """A questionnaire invitation: who answers, for which function, until when; used or not."""

    respondent: str
    function: str
    created_at: dt.datetime
    expires_at: dt.datetime
    used_at: dt.datetime | None

    def refusal(self) -> str | None:
        """Why the invitation cannot be answered now (None while it can)."""
        if self.used_at is not None:
            return "used"
        return "expired" if self.expires_at <= _now() else None


def digest(secret: str) -> str:
    """The stored form of a token or session id (SHA-256; the secrets are 256-bit random)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def _now() -> dt.datetime:
    """The current time, naive UTC like every timestamp in the database."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def check_user_name(name: str) -> str:
    """Return ``name`` if it is a valid user name, else fail saying what is allowed."""
    if not USER_NAME.match(name):
        raise MissionlineError(
            f"invalid user name {name!r}: use 1 to 64 letters, digits and . _ @ -, "
            "starting with a letter or digit"
        )
    return name


def check_role(role: str) -> Role:
    """Return ``role`` if it is one of the roles, else fail listing them."""
    if role not in ROLES:
        raise MissionlineError(f"unknown role {role!r}; use one of {', '.join(ROLES)}")
    return cast(Role, role)


def open_store(db: Database) -> Store:
    """The store of ``db``, creating its tables when they do not exist yet."""
    store = Store(db)
    for statement in _SCHEMA:
        store._run(statement)
    return store


class Store:
    """The user, token and session tables of one database connection."""

    def __init__(self, db: Database) -> None:
        if not db.is_duckdb:
            raise WorkspaceError(
                f"the web app keeps its users in DuckDB; {db.name} databases are not supported "
                "yet for users, tokens and sessions"
            )
        self.db = db

    def _run(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Execute one constant statement with its parameters; return its rows (if any)."""
        cursor = self.db.raw_sql(sql, list(params))
        return list(cursor.fetchall()) if cursor.description else []

    # users

    def users(self) -> list[User]:
        """Every user, by name."""
        rows = self._run(
            "SELECT name, role, password_hash, created_at FROM missionline_users ORDER BY name"
        )
        return [User(*row) for row in rows]

    def user(self, name: str) -> User | None:
        """The user called ``name``, or None."""
        rows = self._run(
            "SELECT name, role, password_hash, created_at FROM missionline_users WHERE name = ?",
            name,
        )
        return User(*rows[0]) if rows else None

    def add_user(self, name: str, role: str, password_hash: str) -> User:
        """Create a user; the name must be new."""
        check_user_name(name)
        check_role(role)
        if self.user(name) is not None:
            raise MissionlineError(f"a user called {name!r} already exists")
        self._run(
            "INSERT INTO missionline_users VALUES (?, ?, ?, ?)", name, role, password_hash, _now()
        )
        user = self.user(name)
        assert user is not None
        return user

    def _known(self, name: str) -> User:
        user = self.user(name)
        if user is None:
            raise MissionlineError(f"no user called {name!r}; 'missionline user list' shows them")
        return user

    def remove_user(self, name: str) -> None:
        """Delete a user with their tokens and sessions."""
        self._known(name)
        self._run("DELETE FROM missionline_tokens WHERE user_name = ?", name)
        self._run("DELETE FROM missionline_sessions WHERE user_name = ?", name)
        self._run("DELETE FROM missionline_users WHERE name = ?", name)

    def set_password(self, name: str, password_hash: str) -> None:
        """Replace a user's password hash and end their sessions (log out everywhere)."""
        self._known(name)
        self._run(
            "UPDATE missionline_users SET password_hash = ? WHERE name = ?", password_hash, name
        )
        self._run("DELETE FROM missionline_sessions WHERE user_name = ?", name)

    # API tokens

    def add_token(self, user_name: str) -> tuple[TokenInfo, str]:
        """Create an API token for a user; return it listed and the secret (shown only once)."""
        self._known(user_name)
        token_id = secrets.token_hex(4)
        secret = f"{TOKEN_PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
        created = _now()
        self._run(
            "INSERT INTO missionline_tokens VALUES (?, ?, ?, ?)",
            token_id,
            user_name,
            digest(secret),
            created,
        )
        return TokenInfo(token_id, user_name, created), secret

    def tokens(self, user_name: str | None = None) -> list[TokenInfo]:
        """The tokens of one user (or of everyone), oldest first."""
        sql = "SELECT id, user_name, created_at FROM missionline_tokens"
        rows = (
            self._run(sql + " WHERE user_name = ? ORDER BY created_at, id", user_name)
            if user_name is not None
            else self._run(sql + " ORDER BY created_at, id")
        )
        return [TokenInfo(*row) for row in rows]

    def token_user(self, secret: str) -> User | None:
        """The user a token belongs to, or None for an unknown or revoked token."""
        rows = self._run(
            "SELECT u.name, u.role, u.password_hash, u.created_at FROM missionline_tokens t "
            "JOIN missionline_users u ON u.name = t.user_name WHERE t.digest = ?",
            digest(secret),
        )
        return User(*rows[0]) if rows else None

    def revoke_token(self, token_or_id: str, user_name: str | None = None) -> TokenInfo:
        """Delete a token given as its secret or its id (only ``user_name``'s when given)."""
        rows = self._run(
            "SELECT id, user_name, created_at FROM missionline_tokens WHERE id = ? OR digest = ?",
            token_or_id,
            digest(token_or_id),
        )
        found = [TokenInfo(*row) for row in rows if user_name in (None, row[1])]
        if not found:
            raise MissionlineError("no such token; 'missionline token list' shows the token ids")
        self._run("DELETE FROM missionline_tokens WHERE id = ?", found[0].id)
        return found[0]

    # sessions

    def add_session(self, user_name: str, hours: float) -> tuple[str, Session]:
        """Start a session; return its id (for the cookie, never stored) and the session."""
        user = self._known(user_name)
        now = _now()
        self._run("DELETE FROM missionline_sessions WHERE expires_at <= ?", now)
        secret, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        expires = now + dt.timedelta(hours=hours)
        self._run(
            "INSERT INTO missionline_sessions VALUES (?, ?, ?, ?, ?)",
            digest(secret),
            user_name,
            csrf,
            now,
            expires,
        )
        return secret, Session(user, csrf, expires)

    def session(self, secret: str) -> Session | None:
        """The live session with this id, or None (unknown or expired)."""
        rows = self._run(
            "SELECT u.name, u.role, u.password_hash, u.created_at, s.csrf, s.expires_at "
            "FROM missionline_sessions s JOIN missionline_users u ON u.name = s.user_name "
            "WHERE s.digest = ? AND s.expires_at > ?",
            digest(secret),
            _now(),
        )
        if not rows:
            return None
        *user, csrf, expires = rows[0]
        return Session(User(*user), csrf, expires)

    def end_session(self, secret: str) -> None:
        """Forget a session (logout)."""
        self._run("DELETE FROM missionline_sessions WHERE digest = ?", digest(secret))

    # questionnaire invitations

    def add_invite(
        self, respondent: str, function: str, days: float = INVITE_DAYS
    ) -> tuple[Invite, str]:
        """Create an invitation; return it and its token (shown only once, stored hashed)."""
        respondent = respondent.strip()
        if not respondent or len(respondent) > 200:
            raise MissionlineError("an invitation needs a respondent name of 1 to 200 characters")
        if days <= 0:
            raise MissionlineError(f"an invitation must stay valid for some time, not {days} days")
        secret, now = secrets.token_urlsafe(32), _now()
        invite = Invite(respondent, function, now, now + dt.timedelta(days=days), None)
        self._run(
            "INSERT INTO missionline_invites VALUES (?, ?, ?, ?, ?, NULL)",
            digest(secret),
            respondent,
            function,
            now,
            invite.expires_at,
        )
        return invite, secret

    def invite(self, secret: str) -> Invite | None:
        """The invitation with this token, used or expired too; None for an unknown token."""
        rows = self._run(
            "SELECT respondent, function, created_at, expires_at, used_at "
            "FROM missionline_invites WHERE digest = ?",
            digest(secret),
        )
        return Invite(*rows[0]) if rows else None

    def use_invite(self, secret: str) -> bool:
        """Mark a live invitation used; False when it was already used, expired or unknown."""
        rows = self._run(
            "UPDATE missionline_invites SET used_at = ? "
            "WHERE digest = ? AND used_at IS NULL AND expires_at > ? RETURNING respondent",
            _now(),
            digest(secret),
            _now(),
        )
        return bool(rows)
