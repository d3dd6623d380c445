"""``missionline serve``: the self-hosted web app and REST API over one workspace (uvicorn)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from missionline.cli.options import DbOption, WorkspaceOption
from missionline.cli.output import console
from missionline.errors import MissionlineError


def serve(
    workspace: WorkspaceOption = Path("."),
    host: Annotated[
        str, typer.Option("--host", help="The address to listen on (127.0.0.1: this machine only).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="The TCP port.")] = 8000,
    secure_cookies: Annotated[
        bool,
        typer.Option(
            "--secure-cookies/--no-secure-cookies",
            help="Send the session cookie over HTTPS only (the default). Turn it off only for "
            "plain-http testing on a private address.",
        ),
    ] = True,
    upload_limit: Annotated[
        float, typer.Option("--upload-limit", min=0.001, help="The largest upload, in MB.")
    ] = 50.0,
    session_hours: Annotated[
        float, typer.Option("--session-hours", min=0.01, help="How long a login lasts, in hours.")
    ] = 12.0,
    root_path: Annotated[
        str,
        typer.Option(
            "--root-path", help="The path prefix when served behind a proxy, e.g. /missionline."
        ),
    ] = "",
    db: DbOption = None,
) -> None:
    """Start the web app: dashboards, imports, users and the REST API (Ctrl-C stops it)."""
    try:
        import uvicorn

        from missionline.web.app import create_app
        from missionline.web.state import Settings
        from missionline.web.warm import keep_warm
    except ImportError as exc:
        raise MissionlineError(
            f"the web app needs the web extra ({exc.name} is missing): "
            "pip install 'missionline[web]'"
        ) from None
    settings = Settings(
        secure_cookies=secure_cookies,
        upload_limit_mb=upload_limit,
        session_hours=session_hours,
    )
    app = create_app(workspace, db, settings)
    with app.state.missionline.pool.store() as store:
        if not store.users():
            app.state.missionline.pool.close()
            raise MissionlineError(
                f"no users yet: add one first with 'missionline user add -w {workspace} NAME "
                "--role admin'"
            )
    warmer = keep_warm(app.state.missionline)  # the first visitor should not wait for them
    console.print(f"missionline serving {workspace} on http://{host}:{port}", highlight=False)
    try:
        uvicorn.run(app, host=host, port=port, root_path=root_path, log_level="info")
    finally:
        warmer.stop()
        app.state.missionline.pool.close()


def register_serve_commands(app: typer.Typer) -> None:
    """Add the ``serve`` command to the app."""
    app.command("serve")(serve)
