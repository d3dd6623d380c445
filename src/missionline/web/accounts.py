"""Logging in and out, the users page (admins) and each user's API tokens."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from missionline.errors import MissionlineError
from missionline.web import csrf
from missionline.web.auth import SESSION_COOKIE, Principal, hash_password, verify_password
from missionline.web.pages import render
from missionline.web.state import app_state, page_role
from missionline.web.store import ROLES

router = APIRouter(include_in_schema=False)
viewer = Depends(page_role("viewer"))
admin = Depends(page_role("admin"))


def local_target(target: str | None) -> str:
    """Where to go after login: a path on this site only (never another host)."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target if "\\" not in target else "/"


def login_form(
    request: Request, next_: str = "/", error: str = "", status: int = 200
) -> HTMLResponse:
    """The login page, with a fresh double-submit CSRF cookie."""
    token = csrf.login_token(request)
    response = app_state(request).templates.TemplateResponse(
        request,
        "login.html.j2",
        {"csrf_token": token, "next": local_target(next_), "error": error},
        status_code=status,
    )
    response.set_cookie(
        csrf.LOGIN_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=app_state(request).settings.secure_cookies,
        path="/login",
    )
    return response


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/") -> HTMLResponse:
    """The login form."""
    return login_form(request, next)


@router.post("/login")
def login(
    request: Request,
    name: str = Form(""),
    password: str = Form(""),
    next: str = Form("/"),
    csrf_token: str = Form(""),
) -> Response:
    """Check the password (rate-limited per client and per name); start a session."""
    csrf.check_login(request, csrf_token)
    state = app_state(request)
    client = request.client.host if request.client else "unknown"
    keys = (f"client:{client}", f"user:{name.lower()}")
    wait = state.limiter.retry_after(keys)
    if wait > 0:
        response = login_form(
            request, next, f"Too many failed logins: try again in {wait / 60:.0f} minutes.", 429
        )
        response.headers["Retry-After"] = str(int(wait) + 1)
        return response
    with state.pool.store() as store:
        user = store.user(name)
    if not verify_password(user, password):
        state.limiter.failed(keys)
        return login_form(request, next, "Unknown user name or wrong password.", 401)
    state.limiter.succeeded(keys)
    with state.pool.store_writer() as store:
        secret, _ = store.add_session(name, state.settings.session_hours)
    redirect = RedirectResponse(local_target(next), status_code=303)
    redirect.set_cookie(
        SESSION_COOKIE,
        secret,
        max_age=int(state.settings.session_hours * 3600),
        httponly=True,
        samesite="strict",
        secure=state.settings.secure_cookies,
        path="/",
    )
    redirect.delete_cookie(csrf.LOGIN_COOKIE, path="/login")
    return redirect


@router.post("/logout")
def logout(request: Request, csrf_token: str = Form(""), principal: Principal = viewer) -> Response:
    """End the session everywhere it is stored; back to the login page."""
    csrf.check(principal, request, csrf_token)
    with app_state(request).pool.store_writer() as store:
        store.end_session(request.cookies.get(SESSION_COOKIE, ""))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def users_page(
    request: Request, principal: Principal, message: str = "", error: str = "", status: int = 200
) -> HTMLResponse:
    """The users page: every user and role, and the forms to change them."""
    with app_state(request).pool.store() as store:
        users = store.users()
        tokens = {u.name: len(store.tokens(u.name)) for u in users}
    return render(
        request,
        "users.html.j2",
        principal,
        status,
        page="users",
        users=users,
        tokens=tokens,
        roles=ROLES,
        message=message,
        error=error,
    )


@router.get("/users", response_class=HTMLResponse)
def users(request: Request, principal: Principal = admin) -> HTMLResponse:
    """Users and roles (admins only)."""
    return users_page(request, principal)


def _change(request: Request, principal: Principal, csrf_token: str, action: Any) -> HTMLResponse:
    """Run one change to the users (admins only) and show the page with its outcome."""
    csrf.check(principal, request, csrf_token)
    try:
        with app_state(request).pool.store_writer() as store:
            message = action(store)
    except MissionlineError as exc:
        return users_page(request, principal, error=exc.message, status=400)
    return users_page(request, principal, message=message)


@router.post("/users/add", response_class=HTMLResponse)
def add_user(
    request: Request,
    name: str = Form(""),
    role: str = Form("viewer"),
    password: str = Form(""),
    csrf_token: str = Form(""),
    principal: Principal = admin,
) -> HTMLResponse:
    """Add a user with a role and a first password."""

    def action(store: Any) -> str:
        store.add_user(name, role, hash_password(password))
        return f"Added {name} as {role}."

    return _change(request, principal, csrf_token, action)


@router.post("/users/remove", response_class=HTMLResponse)
def remove_user(
    request: Request, name: str = Form(""), csrf_token: str = Form(""), principal: Principal = admin
) -> HTMLResponse:
    """Remove a user (not yourself) with their tokens and sessions."""

    def action(store: Any) -> str:
        if name == principal.user.name:
            raise MissionlineError("you cannot remove yourself; ask another admin")
        store.remove_user(name)
        return f"Removed {name}."

    return _change(request, principal, csrf_token, action)


@router.post("/users/password", response_class=HTMLResponse)
def reset_password(
    request: Request,
    name: str = Form(""),
    password: str = Form(""),
    csrf_token: str = Form(""),
    principal: Principal = admin,
) -> HTMLResponse:
    """Set a user's password; their sessions end."""

    def action(store: Any) -> str:
        store.set_password(name, hash_password(password))
        return f"Set a new password for {name}; their sessions have ended."

    return _change(request, principal, csrf_token, action)


def tokens_page(
    request: Request, principal: Principal, secret: str = "", status: int = 200, error: str = ""
) -> HTMLResponse:
    """The caller's API tokens, and the one just created (shown once)."""
    with app_state(request).pool.store() as store:
        tokens = store.tokens(principal.user.name)
    return render(
        request,
        "tokens.html.j2",
        principal,
        status,
        page="tokens",
        tokens=tokens,
        secret=secret,
        error=error,
    )


@router.get("/tokens", response_class=HTMLResponse)
def tokens(request: Request, principal: Principal = viewer) -> HTMLResponse:
    """Your API tokens."""
    return tokens_page(request, principal)


@router.post("/tokens/create", response_class=HTMLResponse)
def create_token(
    request: Request, csrf_token: str = Form(""), principal: Principal = viewer
) -> HTMLResponse:
    """Create an API token for yourself; it is shown once."""
    csrf.check(principal, request, csrf_token)
    with app_state(request).pool.store_writer() as store:
        _, secret = store.add_token(principal.user.name)
    return tokens_page(request, principal, secret=secret)


@router.post("/tokens/revoke", response_class=HTMLResponse)
def revoke_token(
    request: Request,
    token_id: str = Form(""),
    csrf_token: str = Form(""),
    principal: Principal = viewer,
) -> HTMLResponse:
    """Revoke one of your API tokens."""
    csrf.check(principal, request, csrf_token)
    try:
        with app_state(request).pool.store_writer() as store:
            store.revoke_token(token_id, principal.user.name)
    except MissionlineError as exc:
        return tokens_page(request, principal, status=400, error=exc.message)
    return tokens_page(request, principal)
