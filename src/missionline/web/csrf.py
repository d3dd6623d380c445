"""Cross-site request forgery protection for every form and every cookie-authenticated write.

A logged-in browser's forms carry its session's CSRF token (a hidden ``csrf_token`` field, or
the ``X-CSRF-Token`` header for scripts using the session); the login form, which has no
session yet, and the questionnaire reached by an invitation link use a double-submit cookie.
Bearer-token requests need no CSRF token: a browser never attaches a bearer token on its own.
"""

from __future__ import annotations

import hmac
import secrets

from fastapi import Request

from missionline.web.auth import Principal

FIELD = "csrf_token"
HEADER = "x-csrf-token"
LOGIN_COOKIE = "missionline_login_csrf"
SURVEY_COOKIE = "missionline_survey_csrf"


class CsrfError(Exception):
    """A form or write arrived without the token of the session that should have sent it."""


def _same(expected: str | None, given: str | None) -> bool:
    """Constant-time comparison of two tokens; a missing one never matches."""
    return bool(expected and given) and hmac.compare_digest(str(expected), str(given))


def check(principal: Principal, request: Request, form_token: str | None = None) -> None:
    """Refuse a cookie-authenticated write without its session's token."""
    if principal.session is None:
        return  # a bearer token: not something a browser sends by itself
    given = form_token or request.headers.get(HEADER)
    if not _same(principal.session.csrf, given):
        raise CsrfError


def login_token(request: Request, cookie: str = LOGIN_COOKIE) -> str:
    """A sessionless form's token (login, questionnaire): the browser's cookie, or a new one."""
    return request.cookies.get(cookie) or secrets.token_urlsafe(32)


def check_login(request: Request, form_token: str | None, cookie: str = LOGIN_COOKIE) -> None:
    """Refuse a sessionless form post whose token does not match its cookie."""
    if not _same(request.cookies.get(cookie), form_token):
        raise CsrfError
