"""``missionline user`` and ``missionline token``: who may use the web app and the API.

Users, their argon2 password hashes and the API tokens' digests live in the workspace's
database (see :mod:`missionline.web.store`). The web extra must be installed
(``pip install 'missionline[web]'``). A running ``missionline serve`` holds the DuckDB file:
stop it first, or manage users on its Users page and tokens on its API tokens page.

``user list --format json`` prints ``[{"name", "role", "created_at", "tokens"}]``;
``token list --format json`` prints ``[{"id", "user", "created_at"}]``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import pandas as pd
import typer

from missionline.cli.options import DbOption, FormatOption, WorkspaceOption
from missionline.cli.output import Format, console, emit, err_console
from missionline.workspace import Workspace

if TYPE_CHECKING:
    from missionline.web.store import Store

user_app = typer.Typer(help="Users of the web app and their roles.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens for scripts (bearer tokens).", no_args_is_help=True)

NameArgument = Annotated[str, typer.Argument(help="The user name.")]
PasswordStdinOption = Annotated[
    bool,
    typer.Option(
        "--password-stdin",
        help="Read the password from standard input (one line) instead of prompting.",
    ),
]


@contextmanager
def _store(workspace: Path, db: str | None) -> Iterator[Store]:
    """The workspace's user store (its tables created when missing)."""
    from missionline.web.store import open_store

    with Workspace.open(workspace, db) as ws:
        yield open_store(ws.db)


def _password(from_stdin: bool) -> str:
    """The new password, hashed: from standard input or typed twice at a hidden prompt."""
    from missionline.web.auth import hash_password

    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return hash_password(password)


@user_app.command("add")
def add(
    name: NameArgument,
    role: Annotated[str, typer.Option("--role", help="admin, analyst or viewer.")],
    workspace: WorkspaceOption = Path("."),
    password_stdin: PasswordStdinOption = False,
    db: DbOption = None,
) -> None:
    """Add a user with a role: viewer (read), analyst (read, import), admin (also users)."""
    from missionline.web.store import check_role, check_user_name

    check_user_name(name)
    check_role(role)
    with _store(workspace, db) as store:
        store.add_user(name, role, _password(password_stdin))
    console.print(f"added user {name} ({role})", highlight=False)


@user_app.command("remove")
def remove(name: NameArgument, workspace: WorkspaceOption = Path("."), db: DbOption = None) -> None:
    """Remove a user, their API tokens and their sessions."""
    with _store(workspace, db) as store:
        store.remove_user(name)
    console.print(f"removed user {name}", highlight=False)


@user_app.command("list")
def list_users(
    workspace: WorkspaceOption = Path("."), fmt: FormatOption = Format.table, db: DbOption = None
) -> None:
    """List the users, their roles and how many API tokens each has."""
    with _store(workspace, db) as store:
        users = store.users()
        rows = [
            {"name": u.name, "role": u.role, "created_at": u.created_at, "tokens": n}
            for u in users
            for n in [len(store.tokens(u.name))]
        ]
    emit(pd.DataFrame(rows, columns=["name", "role", "created_at", "tokens"]), fmt, title="Users")


@user_app.command("reset-password")
def reset_password(
    name: NameArgument,
    workspace: WorkspaceOption = Path("."),
    password_stdin: PasswordStdinOption = False,
    db: DbOption = None,
) -> None:
    """Set a new password for a user; their browser sessions end."""
    with _store(workspace, db) as store:
        store.set_password(name, _password(password_stdin))
    console.print(f"new password set for {name}", highlight=False)


@token_app.command("create")
def create_token(
    user: Annotated[str, typer.Option("--user", help="The user the token acts as.")],
    workspace: WorkspaceOption = Path("."),
    db: DbOption = None,
) -> None:
    """Create an API token for a user and print it (once: only its digest is kept)."""
    with _store(workspace, db) as store:
        info, secret = store.add_token(user)
    sys.stdout.write(secret + "\n")
    err_console.print(
        f"token {info.id} for {user}: send it as 'Authorization: Bearer <token>'",
        highlight=False,
    )


@token_app.command("revoke")
def revoke_token(
    token: Annotated[str, typer.Argument(help="The token itself, or its id from 'token list'.")],
    workspace: WorkspaceOption = Path("."),
    db: DbOption = None,
) -> None:
    """Revoke an API token, given as the token or its id."""
    with _store(workspace, db) as store:
        info = store.revoke_token(token)
    console.print(f"revoked token {info.id} of {info.user_name}", highlight=False)


@token_app.command("list")
def list_tokens(
    user: Annotated[str | None, typer.Option("--user", help="Only this user's tokens.")] = None,
    workspace: WorkspaceOption = Path("."),
    fmt: FormatOption = Format.table,
    db: DbOption = None,
) -> None:
    """List API tokens by id, user and creation time (never the tokens themselves)."""
    with _store(workspace, db) as store:
        tokens = store.tokens(user)
    rows = [{"id": t.id, "user": t.user_name, "created_at": t.created_at} for t in tokens]
    emit(pd.DataFrame(rows, columns=["id", "user", "created_at"]), fmt, title="API tokens")


def register_user_commands(app: typer.Typer) -> None:
    """Add the ``user`` and ``token`` command groups to the app."""
    app.add_typer(user_app, name="user")
    app.add_typer(token_app, name="token")
