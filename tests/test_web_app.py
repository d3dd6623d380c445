"""The web app: every route is authenticated, roles hold on the server, forms need CSRF tokens."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from missionline.web.accounts import local_target
from missionline.web.app import PLOTLY_PATH
from missionline.web.auth import RateLimiter
from missionline.web.cache import Cache
from test_web_support import (
    PASSWORD,
    USERS,
    client_as,
    csrf_token,
    fixture_workspace,
    login,
    web_app,
)

PUBLIC = {("GET", "/login"), ("POST", "/login"), ("GET", PLOTLY_PATH)}
# the questionnaire of an invitation link: the token is the credential (404 unknown, 403 no CSRF)
INVITED = {("GET", "/survey/{token}"), ("POST", "/survey/{token}")}
PAGES = ["/", "/process", "/plan", "/customers", "/initiatives", "/alignment", "/data", "/tokens"]


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    """The app over the fixture company, with a user of every role."""
    folder = fixture_workspace(tmp_path_factory.mktemp("web"))
    application = web_app(folder, login_attempts=3)
    yield application
    application.state.missionline.pool.close()


def routes(items: list[Any], prefix: str = "") -> list[tuple[str, str]]:
    """Every (method, path) of the routes, included routers opened; a mount counts as GET."""
    out = []
    for route in items:
        inner = getattr(route, "original_router", None)  # FastAPI's included routers
        if inner is not None:
            out += routes(inner.routes, prefix + route.include_context.prefix)
            continue
        methods = getattr(route, "methods", None) or {"GET"}
        out += [(m, prefix + route.path) for m in sorted(methods) if m != "HEAD"]
    return out


def test_every_route_but_login_static_and_invitations_needs_a_login(app: FastAPI) -> None:
    """Without credentials every route refuses: pages redirect to the login, the API says 401."""
    client = TestClient(app)
    found = routes(app.routes)
    assert len(found) >= 20 and ("GET", "/static") in found
    for method, path in found:
        url = "/static/app.css" if path == "/static" else path
        response = client.request(method, url, follow_redirects=False)
        if (method, path) in PUBLIC or path == "/static":
            assert response.status_code in (200, 403), (method, path)  # 403: login without CSRF
        elif (method, path) in INVITED:
            assert response.status_code in (403, 404), (method, path)  # a forged token
        elif path.startswith("/api/"):
            assert response.status_code == 401, (method, path)
            assert response.headers["www-authenticate"] == "Bearer"
        else:
            assert response.status_code == 303, (method, path)
            assert response.headers["location"].startswith("/login?next=")


def test_a_forged_or_expired_session_cookie_is_refused(app: FastAPI) -> None:
    """A made-up session id is no session, on pages and on the API."""
    client = TestClient(app, cookies={"missionline_session": "made-up"})
    assert client.get("/", follow_redirects=False).status_code == 303
    assert client.get("/api/v1/funnel").status_code == 401


def test_login_sets_a_strict_http_only_cookie_and_goes_back(app: FastAPI) -> None:
    """The session cookie is HttpOnly and SameSite=Strict; after login the page asked for opens."""
    client = TestClient(app)
    first = client.get("/process?market=europe", follow_redirects=False)
    target = first.headers["location"]
    page = client.get(target)
    assert 'name="next" value="/process?market=europe"' in page.text
    response = login(client, USERS["viewer"])
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert client.get("/").status_code == 200


def test_secure_cookies_are_the_default(tmp_path: Path) -> None:
    """Unless turned off for plain-http testing, the session cookie is marked Secure."""
    app = web_app(fixture_workspace(tmp_path), secure_cookies=True)
    try:
        client = TestClient(app, base_url="https://testserver")
        response = login(client, USERS["viewer"])
        assert "Secure" in response.headers["set-cookie"]
    finally:
        app.state.missionline.pool.close()


def test_login_rejects_wrong_passwords_and_rate_limits(app: FastAPI) -> None:
    """Wrong password: 401 with a message; after three failures the name is blocked (429)."""
    client = TestClient(app)
    for _ in range(3):
        response = login(client, "nobody-" + "x", "wrong password")
        assert response.status_code == 401 and "wrong password" in response.text
    blocked = login(client, "nobody-x", "wrong password")
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0
    # the same client address is blocked too, even for a real user and password
    assert login(client, USERS["admin"]).status_code == 429
    app.state.missionline.limiter.succeeded(["client:testclient", "user:nobody-x"])


def test_the_login_form_needs_its_csrf_cookie(app: FastAPI) -> None:
    """A login posted from elsewhere (no matching CSRF cookie) is refused."""
    client = TestClient(app)
    form = {"name": USERS["admin"], "password": PASSWORD, "csrf_token": "guess"}
    response = client.post("/login", data=form, follow_redirects=False)
    assert response.status_code == 403 and "Form refused" in response.text


def test_login_redirects_only_to_this_site() -> None:
    """The page to return to after login is a local path; other hosts become the overview."""
    assert local_target("/plan?period=2024") == "/plan?period=2024"
    for bad in ("https://evil.example/", "//evil.example", "evil", "/\\evil.example", None):
        assert local_target(bad) == "/"


@pytest.mark.parametrize("role", sorted(USERS))
def test_every_role_reads_every_dashboard(app: FastAPI, role: str) -> None:
    """Viewers, analysts and admins all see the dashboards, the data and their tokens."""
    client = client_as(app, role)
    for path in PAGES:
        response = client.get(path)
        assert response.status_code == 200, path
        assert USERS[role] in response.text


def test_only_admins_manage_users(app: FastAPI) -> None:
    """The users page and its forms answer 403 to viewers and analysts."""
    for role in ("viewer", "analyst"):
        client = client_as(app, role)
        token = csrf_token(client)
        assert client.get("/users").status_code == 403
        form = {"name": "x", "role": "admin", "password": "whatever1", "csrf_token": token}
        assert client.post("/users/add", data=form).status_code == 403
    assert client_as(app, "admin").get("/users").status_code == 200


def test_only_analysts_and_admins_import(app: FastAPI) -> None:
    """A viewer's import is refused on the server, with or without the form."""
    client = client_as(app, "viewer")
    assert "Validate and import" not in client.get("/data").text
    token = csrf_token(client)
    files = {"files": ("people.csv", b"person_id,created_at\n", "text/csv")}
    response = client.post("/data/import", data={"csrf_token": token}, files=files)
    assert response.status_code == 403


def test_forms_without_the_session_csrf_token_are_refused(app: FastAPI) -> None:
    """Posting a form with no token or another session's token changes nothing."""
    admin = client_as(app, "admin")
    other = csrf_token(client_as(app, "viewer"))
    for token in ("", other):
        form = {"name": "mallory", "role": "admin", "password": "whatever1", "csrf_token": token}
        assert admin.post("/users/add", data=form).status_code == 403
    assert "mallory" not in admin.get("/users").text
    assert admin.post("/logout", data={"csrf_token": ""}).status_code == 403


def test_admin_adds_resets_and_removes_a_user(app: FastAPI) -> None:
    """An admin adds a user, sets their password (ending their sessions) and removes them."""
    admin = client_as(app, "admin")
    token = csrf_token(admin)
    form = {"name": "newbie", "role": "analyst", "password": "long enough", "csrf_token": token}
    assert "Added newbie as analyst" in admin.post("/users/add", data=form).text
    again = admin.post("/users/add", data=form)
    assert again.status_code == 400 and "already exists" in again.text
    short = admin.post("/users/add", data={**form, "name": "shorty", "password": "short"})
    assert short.status_code == 400 and "8 to 1024 characters" in short.text
    newbie = TestClient(app)
    assert login(newbie, "newbie", "long enough").status_code == 303
    reset = {"name": "newbie", "password": "another one", "csrf_token": token}
    assert "sessions have ended" in admin.post("/users/password", data=reset).text
    assert newbie.get("/", follow_redirects=False).status_code == 303
    assert login(newbie, "newbie", "another one").status_code == 303
    itself = admin.post("/users/remove", data={"name": USERS["admin"], "csrf_token": token})
    assert itself.status_code == 400 and "cannot remove yourself" in itself.text
    removed = admin.post("/users/remove", data={"name": "newbie", "csrf_token": token})
    assert "Removed newbie" in removed.text
    assert newbie.get("/", follow_redirects=False).status_code == 303


def test_tokens_page_creates_shows_once_and_revokes(app: FastAPI) -> None:
    """A user creates an API token (shown once), uses it, and revokes it."""
    client = client_as(app, "viewer")
    token = csrf_token(client)
    page = client.post("/tokens/create", data={"csrf_token": token}).text
    secret = re.search(r'id="new-token">([^<]+)<', page)
    assert secret is not None
    bearer = {"Authorization": f"Bearer {secret.group(1)}"}
    assert TestClient(app).get("/api/v1/funnel", headers=bearer).status_code == 200
    assert secret.group(1) not in client.get("/tokens").text
    token_id = re.search(r'name="token_id" value="([0-9a-f]+)"', page)
    assert token_id is not None
    client.post("/tokens/revoke", data={"csrf_token": token, "token_id": token_id.group(1)})
    assert TestClient(app).get("/api/v1/funnel", headers=bearer).status_code == 401
    missing = client.post("/tokens/revoke", data={"csrf_token": token, "token_id": "nope"})
    assert missing.status_code == 400


def test_logout_ends_the_session(app: FastAPI) -> None:
    """After logout the old cookie no longer opens a page."""
    client = client_as(app, "viewer")
    cookie = client.cookies.get("missionline_session")
    response = client.post("/logout", data={"csrf_token": csrf_token(client)})
    assert response.status_code == 200 and "Log in" in response.text
    stale = TestClient(app, cookies={"missionline_session": cookie or ""})
    assert stale.get("/", follow_redirects=False).status_code == 303


def test_responses_carry_a_strict_content_security_policy(app: FastAPI) -> None:
    """Scripts only from the server or with the response's nonce; pages are never cached."""
    client = client_as(app, "viewer")
    response = client.get("/process")
    policy = response.headers["content-security-policy"]
    nonce = re.search(r"'nonce-([^']+)'", policy)
    assert nonce is not None and "default-src 'self'" in policy and "unsafe-inline" in policy
    assert "script-src 'self' 'nonce-" in policy  # inline scripts need the nonce
    scripts = re.findall(r"<script([^>]*)>", response.text)
    assert scripts and all(f'nonce="{nonce.group(1)}"' in s or "src=" in s for s in scripts)
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-frame-options"] == "DENY"
    assert "cdn" not in response.text.lower() and "https://" not in policy


def test_plotly_is_served_by_the_app_with_long_caching(app: FastAPI) -> None:
    """Plotly's script comes from the app itself, compressed, cached for a year."""
    client = client_as(app, "viewer")
    assert PLOTLY_PATH in client.get("/process").text
    response = client.get(PLOTLY_PATH, headers={"accept-encoding": "gzip"})
    assert response.status_code == 200 and len(response.content) > 1_000_000
    assert "immutable" in response.headers["cache-control"]
    assert response.headers["content-encoding"] == "gzip"


def test_filters_are_in_the_url_and_checked(app: FastAPI) -> None:
    """A filtered view is a shareable URL; a malformed filter is a 400 saying what to write."""
    client = client_as(app, "viewer")
    page = client.get("/plan?market=europe&period=2024-Q1")
    assert page.status_code == 200 and "market = europe" in page.text
    assert 'href="/process?period=2024-Q1&amp;market=europe"' in page.text
    bad = client.get("/plan?period=last-week")
    assert bad.status_code == 400 and "2025-Q3" in bad.text
    assert client.get("/process?market=%00").status_code == 400


def test_the_cache_serves_repeats_and_empties_on_a_new_version() -> None:
    """A key computes once per data version; an older snapshot is answered but never stored."""
    cache, calls = Cache(size=2), []
    compute = lambda: calls.append(1) or len(calls)  # noqa: E731
    assert cache.get((1, "a"), "k", compute) == 1
    assert cache.get((1, "a"), "k", compute) == 1
    assert cache.get((2, "b"), "k", compute) == 2  # a new import: recomputed
    assert cache.get((1, "a"), "k", compute) == 3  # an older snapshot: not cached
    assert cache.get((2, "b"), "k", compute) == 2
    for key in ("x", "y", "z"):
        cache.get((2, "b"), key, compute)
    assert len(cache._items) == 2  # least recently used dropped


def test_the_rate_limiter_forgets_after_its_window() -> None:
    """Failures older than the window no longer count."""
    now = [0.0]
    limiter = RateLimiter(2, 60, clock=lambda: now[0])
    limiter.failed(["k"])
    limiter.failed(["k"])
    assert limiter.retry_after(["k"]) == pytest.approx(60)
    now[0] = 61
    assert limiter.retry_after(["k"]) == 0
