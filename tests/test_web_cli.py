"""``missionline user``, ``token`` and ``serve``: users, roles and tokens from the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from missionline.cli.serve import register_serve_commands
from missionline.cli.users import register_user_commands
from missionline.web.store import digest, open_store
from missionline.workspace import Workspace

APP = typer.Typer()
register_user_commands(APP)
register_serve_commands(APP)
RUNNER = CliRunner()


def run(*args: str, stdin: str | None = None) -> Any:
    """Run a command of the local app; return the click result."""
    return RUNNER.invoke(APP, list(args), input=stdin)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """An empty starter workspace."""
    Workspace.init(tmp_path / "ws").close()
    return tmp_path / "ws"


def test_users_are_added_listed_reset_and_removed(folder: Path) -> None:
    """The whole life of a user, with passwords from stdin and from the prompt."""
    w = str(folder)
    assert run("user", "add", "ann", "-w", w, "--role", "admin", "--password-stdin",
               stdin="s3cret pass\n").exit_code == 0  # fmt: skip
    prompted = run(
        "user", "add", "bob", "-w", w, "--role", "viewer", stdin="pass word\npass word\n"
    )
    assert prompted.exit_code == 0, prompted.output
    listed = json.loads(run("user", "list", "-w", w, "--format", "json").stdout)
    assert [(u["name"], u["role"], u["tokens"]) for u in listed] == [
        ("ann", "admin", 0),
        ("bob", "viewer", 0),
    ]
    assert run("user", "reset-password", "bob", "-w", w, "--password-stdin",
               stdin="new password\n").exit_code == 0  # fmt: skip
    with Workspace.open(folder) as ws:
        store = open_store(ws.db)
        bob = store.user("bob")
        assert bob is not None and bob.password_hash.startswith("$argon2id$")
        assert "new password" not in bob.password_hash
    assert run("user", "remove", "bob", "-w", w).exit_code == 0
    listed = json.loads(run("user", "list", "-w", w, "--format", "json").stdout)
    assert [u["name"] for u in listed] == ["ann"]


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["user", "add", "ann", "--role", "owner"], "password1\n", "unknown role 'owner'"),
        (["user", "add", "a b", "--role", "viewer"], "password1\n", "invalid user name"),
        (["user", "add", "cy", "--role", "viewer", "--password-stdin"], "short\n", "8 to 1024"),
        (["user", "remove", "nobody"], None, "no user called 'nobody'"),
        (["token", "create", "--user", "nobody"], None, "no user called 'nobody'"),
        (["token", "revoke", "mlt_nothing"], None, "no such token"),
    ],
)
def test_mistakes_are_refused_with_a_message(
    folder: Path, args: list[str], stdin: str | None, message: str
) -> None:
    """Unknown roles, bad names, short passwords, unknown users and tokens raise clear errors."""
    result = run(*args, "-w", str(folder), stdin=stdin)
    assert result.exit_code != 0
    assert message in str(result.exception)


def test_tokens_are_printed_once_stored_hashed_listed_and_revoked(folder: Path) -> None:
    """token create prints the secret; only its digest is stored; revoke by id or by token."""
    w = str(folder)
    run("user", "add", "ann", "-w", w, "--role", "analyst", "--password-stdin", stdin="password1\n")
    first = run("token", "create", "-w", w, "--user", "ann").stdout.strip()
    second = run("token", "create", "-w", w, "--user", "ann").stdout.strip()
    assert first.startswith("mlt_") and first != second
    with Workspace.open(folder) as ws:
        stored = ws.db.raw_sql("SELECT digest FROM missionline_tokens").fetchall()
    assert {row[0] for row in stored} == {digest(first), digest(second)}
    listed = json.loads(run("token", "list", "-w", w, "--format", "json").stdout)
    assert [t["user"] for t in listed] == ["ann", "ann"]
    assert run("token", "revoke", first, "-w", w).exit_code == 0
    assert run("token", "revoke", listed[1]["id"], "-w", w).exit_code == 0
    assert json.loads(run("token", "list", "-w", w, "--format", "json").stdout) == []


def test_serve_needs_a_user_and_starts_uvicorn(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """serve refuses an empty user list; with a user it hands the app to uvicorn."""
    w = str(folder)
    refused = run("serve", "-w", w)
    assert refused.exit_code != 0 and "no users yet" in str(refused.exception)
    run("user", "add", "ann", "-w", w, "--role", "admin", "--password-stdin", stdin="password1\n")
    started: dict[str, Any] = {}
    monkeypatch.setattr("uvicorn.run", lambda app, **kw: started.update(app=app, **kw))
    result = run("serve", "-w", w, "--port", "8123", "--no-secure-cookies", "--upload-limit", "5")
    assert result.exit_code == 0, result.output
    assert started["port"] == 8123 and started["host"] == "127.0.0.1"
    settings = started["app"].state.missionline.settings
    assert settings.secure_cookies is False and settings.upload_limit_mb == 5
