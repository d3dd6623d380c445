"""Helpers for the web app tests (no tests here): a workspace with a user of every role."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient

from missionline.demo.generator import generate_company, write_company
from missionline.web.app import create_app
from missionline.web.state import Settings
from missionline.web.store import open_store
from missionline.workspace import Workspace

from conftest import load_fixture

PASSWORD = "correct horse battery"
USERS = {"viewer": "vera", "analyst": "anna", "admin": "adam"}
# Hashes made cheaply: verifying reads the cost from the hash, so logins stay fast in tests.
CHEAP = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def add_users(ws: Workspace) -> None:
    """Give the workspace one user per role, all with ``PASSWORD``."""
    store = open_store(ws.db)
    for role, name in USERS.items():
        store.add_user(name, role, CHEAP.hash(PASSWORD))


def fixture_workspace(folder: Path) -> Path:
    """A starter workspace holding the small fixture company and one user per role."""
    with Workspace.init(folder / "ws") as ws:
        load_fixture(ws, folder / "files")
        add_users(ws)
    return folder / "ws"


def demo_workspace(folder: Path, seed: int) -> Path:
    """A small demo company (400 leads) with the demo plan and one user per role."""
    write_company(generate_company(leads=400, seed=seed), folder / "data")
    with Workspace.init(folder / "ws", "demo") as ws:
        ws.import_files([folder / "data"])
        add_users(ws)
    return folder / "ws"


def web_app(folder: Path, **settings: Any) -> FastAPI:
    """The app over ``folder`` with cookies allowed over the test client's plain http."""
    return create_app(folder, settings=Settings(**{"secure_cookies": False, **settings}))


def login(client: TestClient, name: str, password: str = PASSWORD) -> Any:
    """Log ``client`` in through the login form; return the response."""
    page = client.get("/login")
    token = CSRF.search(page.text)
    assert token is not None
    form = {"name": name, "password": password, "csrf_token": token.group(1), "next": "/"}
    return client.post("/login", data=form, follow_redirects=False)


def client_as(app: FastAPI, role: str) -> TestClient:
    """A new client logged in as the user with ``role``."""
    client = TestClient(app)
    assert login(client, USERS[role]).status_code == 303
    return client


def csrf_token(client: TestClient) -> str:
    """The CSRF token of the client's session, read from a page's forms."""
    match = CSRF.search(client.get("/tokens").text)
    assert match is not None
    return match.group(1)
