"""Throwaway engines for the backend tests: a real PostgreSQL server and a local Spark session.

Nothing here is a pytest fixture (those are in ``backend_fixtures.py``): the benchmark starts
the same server. PostgreSQL comes from the system's packages (``/usr/lib/postgresql/*/bin``,
or ``initdb`` on the PATH): a cluster in a temporary folder, trust authentication, listening on
127.0.0.1 on a free port with its socket in that folder, stopped and removed afterwards.
``initdb`` refuses to run as root, so under root (CI) every server command runs as the
``postgres`` system user, which owns the temporary folder.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from missionline.data.database import Database, default_url
from missionline.plan.loader import load_plan
from missionline.workspace import PLAN_FILE, Workspace

PG_GLOB = "/usr/lib/postgresql/*/bin"
PG_USER = "postgres"  # the system user that runs the server when we are root
DB_USER = "missionline"
_DATABASES = itertools.count(1)  # one PostgreSQL database per workspace


def postgres_bin() -> Path | None:
    """The folder of the newest PostgreSQL server binaries on this machine, or None."""
    found = sorted(glob.glob(PG_GLOB), key=lambda p: int(Path(p).parent.name.split(".")[0]))
    for folder in reversed(found):
        if (Path(folder) / "initdb").is_file():
            return Path(folder)
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def postgres_missing() -> str | None:
    """Why no PostgreSQL server can be started here, or None when one can."""
    if postgres_bin() is None:
        return (
            "PostgreSQL server binaries not found (apt-get install postgresql, or run "
            "'make test' as root, which installs them)"
        )
    if os.getuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser: cannot start PostgreSQL as a non-root user"
    return None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PostgresServer:
    """A PostgreSQL cluster in a temporary folder; ``start`` it, ``stop`` removes it."""

    port: int = field(default_factory=free_port)
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="missionline-pg-")))

    @property
    def data(self) -> Path:
        """The cluster's data folder."""
        return self.root / "data"

    def url(self, database: str = DB_USER) -> str:
        """The connection URL of ``database`` on this server."""
        return f"postgres://{DB_USER}@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str) -> None:
        """Run a server binary, as the ``postgres`` user when we are root."""
        binary = postgres_bin()
        assert binary is not None, postgres_missing()
        command = [str(binary / args[0]), *args[1:]]
        if os.getuid() == 0:
            command = ["runuser", "-u", PG_USER, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode:
            log = self.root / "server.log"
            detail = log.read_text() if log.is_file() else ""
            raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr}{detail}")

    def start(self) -> PostgresServer:
        """Create the cluster and start the server; return self."""
        if os.getuid() == 0:
            shutil.chown(self.root, PG_USER, PG_USER)
        self._run("initdb", "-D", str(self.data), "-U", DB_USER, "--auth=trust", "-E", "UTF8")
        # Durability is not under test: fsync off keeps the many small test loads fast.
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        log = str(self.root / "server.log")
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", log, "-w", "start")
        self.create_database(DB_USER)
        return self

    def create_database(self, name: str) -> str:
        """Create a database on the server and return its URL."""
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as con:
            con.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        """Stop the server at once and remove its folder."""
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


def java_missing() -> str | None:
    """Why local Spark cannot run here (no Java 17 or later, or no pyspark), or None."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed (pip install 'missionline[spark]')"
    java = shutil.which("java")
    if java is None and os.environ.get("JAVA_HOME"):
        candidate = Path(os.environ["JAVA_HOME"]) / "bin" / "java"
        java = str(candidate) if candidate.is_file() else None
    if java is None:
        return "Java is not installed: local Spark needs Java 17 (apt-get install openjdk-17-jre)"
    done = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    version = done.stderr.split('"')[1] if '"' in done.stderr else "0"
    major = int(version.split(".")[0]) if version.split(".")[0].isdigit() else 0
    if major < 17:
        return f"Java {version} found; local Spark needs Java 17 or later"
    return None


def open_workspace(folder: Path, url: str | None, percentiles: str | None = None) -> Workspace:
    """Open the workspace in ``folder`` on the database at ``url`` (its DuckDB file when None),
    as :meth:`Workspace.open` does, with the workspace folder and percentiles setting passed on.
    """
    plan = load_plan(folder / PLAN_FILE)
    db = Database(url or default_url(folder), folder=folder, percentiles=percentiles)
    workspace = Workspace(folder, plan, db)
    db.ensure_schema(workspace.schema)
    return workspace


def new_workspace(
    folder: Path, engine: str, server: PostgresServer | None, source: str | None = None
) -> Workspace:
    """Create a workspace (plan from ``source``) whose tables live on ``engine``, empty, with
    exact percentiles so that every engine's results compare with DuckDB's."""
    Workspace.init(folder, source).close()
    url = None
    if engine == "postgres":
        assert server is not None
        url = server.create_database(f"ws_{next(_DATABASES)}")
    elif engine == "spark":
        url = "pyspark"
    return open_workspace(folder, url, "exact")
