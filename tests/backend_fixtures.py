"""Fixtures for the tests that run on every engine: DuckDB always, PostgreSQL and Spark when
this machine can start them (else they skip, saying why; under CI=true they fail instead)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from backends import PostgresServer, java_missing, new_workspace, postgres_missing
from missionline.demo.generator import generate_company, write_company
from missionline.workspace import Workspace

from conftest import load_fixture, require

__all__ = ["backend", "companies", "demo_files", "postgres_server", "reference", "spark_ready"]
ENGINES = ("duckdb", "postgres", "spark")
DEMO_LEADS, DEMO_SEED = 600, 7


@dataclass
class Companies:
    """The fixture company and a small demo company, both stored on one engine."""

    engine: str
    fixture: Workspace
    demo: Workspace


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the whole test session, removed at its end."""
    reason = postgres_missing()
    require(reason is None, reason or "")
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def spark_ready() -> None:
    """Local Spark can start here (Java 17 and pyspark present)."""
    reason = java_missing()
    require(reason is None, reason or "")


@pytest.fixture(scope="session")
def demo_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small demo company's files (generated once)."""
    folder = tmp_path_factory.mktemp("demo-files")
    write_company(generate_company(leads=DEMO_LEADS, seed=DEMO_SEED), folder)
    return folder


class Builder:
    """Builds the companies on an engine on first use; the session shares them."""

    def __init__(self, root: pytest.TempPathFactory, demo_files: Path) -> None:
        self.root, self.demo_files = root, demo_files
        self.built: dict[str, Companies] = {}

    def __call__(self, engine: str, server: PostgresServer | None = None) -> Companies:
        """The companies on ``engine`` (PostgreSQL needs the ``server``)."""
        if engine not in self.built:
            root = self.root.mktemp(f"companies-{engine}")
            fixture = new_workspace(root / "fixture", engine, server)
            load_fixture(fixture, root / "fixture-files")
            demo = new_workspace(root / "demo", engine, server, "demo")
            demo.import_files([self.demo_files])
            self.built[engine] = Companies(engine, fixture, demo)
        return self.built[engine]

    def close(self) -> None:
        """Close every workspace."""
        for item in self.built.values():
            item.fixture.close()
            item.demo.close()


@pytest.fixture(scope="session")
def companies(tmp_path_factory: pytest.TempPathFactory, demo_files: Path) -> Iterator[Builder]:
    """The session's company builder."""
    builder = Builder(tmp_path_factory, demo_files)
    yield builder
    builder.close()


@pytest.fixture(scope="session")
def reference(companies: Builder) -> Companies:
    """The companies on DuckDB: the results every other engine must reproduce."""
    return companies("duckdb")


@pytest.fixture(scope="session")
def backend(request: pytest.FixtureRequest, companies: Builder) -> Companies:
    """The companies on the engine a test is parametrised with (``indirect=["backend"]``)."""
    engine = request.param
    server = request.getfixturevalue("postgres_server") if engine == "postgres" else None
    if engine == "spark":
        request.getfixturevalue("spark_ready")
    return companies(engine, server)
