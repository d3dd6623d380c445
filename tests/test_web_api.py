"""The REST API answers each metric command with exactly the CLI's JSON, behind tokens and roles."""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from missionline.cli.customers import register_customer_commands
from missionline.cli.main import app as cli_app
from missionline.cli.main import main
from missionline.web.api import COMMANDS, cli_options
from test_web_support import USERS, client_as, csrf_token, demo_workspace, web_app

from conftest import write

# (command, CLI options, API query): each pair must give the same JSON.
CASES = [
    ("funnel", ["--by", "segment", "--period", "quarter"], "?by=segment&period=quarter"),
    ("verify", ["--sample", "2"], "?sample=2"),
    ("velocity", ["--stalled", "--threshold", "mql=3d"], "?stalled=true&threshold=mql%3D3d"),
    ("velocity", ["--to-won", "--by", "channel"], "?to-won=true&by=channel"),
    ("leakage", ["--reasons"], "?reasons=true"),
    ("sla", ["--by", "team", "--period", "year"], "?by=team&period=year"),
    ("sla", ["--open", "--as-of", "2025-06-30"], "?open=true&as-of=2025-06-30"),
    ("pipeline", ["--by", "market", "--as-of", "2025-12-31"], "?by=market&as-of=2025-12-31"),
    ("inputs", ["--by", "channel", "--by", "segment"], "?by=channel&by=segment"),
    ("inputs", ["--efficiency"], "?efficiency=true"),
    ("wave", ["--max-lag", "6", "--kind", "new"], "?max-lag=6&kind=new"),
    ("plan check", [], ""),
    ("plan linkage", [], ""),
    ("lifecycle", ["--view", "nrr", "--period", "year"], "?view=nrr&period=year"),
    ("clv fit", ["--model", "pareto_nbd"], "?model=pareto_nbd"),
    (
        "clv predict",
        ["--horizon", "26", "--spend-model", "gamma_gamma", "--margin", "0.4"],
        "?horizon=26&spend-model=gamma_gamma&margin=0.4",
    ),
    ("clv predict", ["--model", "pareto_nbd", "--time-unit", "D"], "?model=pareto_nbd&time-unit=D"),
    ("experiment analyze", ["exp_nurture_subject"], "?experiment_id=exp_nurture_subject"),
    ("experiment plan", ["--baseline", "0.1", "--mde", "0.02"], "?baseline=0.1&mde=0.02"),
    ("attribution", ["--model", "linear", "--by", "initiative"], "?model=linear&by=initiative"),
    ("alignment", [], ""),
    ("survey", ["--by", "statement"], "?by=statement"),
    ("cascade", ["--by", "segment"], "?by=segment"),
    ("cascade check", [], ""),
    ("pacing", ["--draws", "200"], "?draws=200"),
    ("scenario", ["--set", "conversion.sql=+0.05"], "?set=conversion.sql%3D%2B0.05"),
    ("capacity", ["--idle-below", "0.4"], "?idle-below=0.4"),
    ("customers top", ["--per", "segment", "-n", "3"], "?per=segment&top=3"),
    ("segments", [], ""),
    (
        "initiatives",
        ["--model", "linear", "--as-of", "2025-12-31"],
        "?model=linear&as-of=2025-12-31",
    ),
]
# Commands of the CLI that compute no metric: workspace and data handling, files, the server,
# users and tokens, the questionnaire's text and invitations.
NOT_METRICS = {
    "init",
    "import",
    "export",
    "generate",
    "demo",
    "report",
    "serve",
    "version",
    "plan schema",
    "plan map",
    "survey instrument",
    "survey invite",
    "user add",
    "user remove",
    "user list",
    "user reset-password",
    "token create",
    "token revoke",
    "token list",
}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small demo company (400 leads) with a user of every role and a token for each."""
    return demo_workspace(tmp_path_factory.mktemp("api"), seed=3)


@pytest.fixture(scope="module")
def app(demo: Path) -> Iterator[FastAPI]:
    """The app over the demo workspace."""
    application = web_app(demo)
    yield application
    application.state.missionline.pool.close()


@pytest.fixture(scope="module")
def tokens(app: FastAPI) -> dict[str, dict[str, str]]:
    """A bearer header per role."""
    with app.state.missionline.pool.store_writer() as store:
        return {
            role: {"Authorization": f"Bearer {store.add_token(name)[1]}"}
            for role, name in USERS.items()
        }


def cli_json(
    capsys: pytest.CaptureFixture[str], folder: Path, command: str, args: list[str]
) -> Any:
    """What ``missionline COMMAND -w FOLDER ARGS --format json`` prints, parsed."""
    capsys.readouterr()
    argv = [*command.split(), "-w", str(folder), *args, "--format", "json"]
    if command.split()[0] in ("customers", "segments"):  # not yet registered in cli/main.py
        app = typer.Typer()
        register_customer_commands(app)
        result = CliRunner().invoke(app, argv)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)
    code = main(argv)
    assert code in (0, 1, None)  # cascade check exits 1 when it has findings
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize(("command", "args", "query"), CASES, ids=[c[0] + str(c[1]) for c in CASES])
def test_the_api_gives_the_cli_json(
    app: FastAPI,
    demo: Path,
    tokens: dict[str, dict[str, str]],
    capsys: pytest.CaptureFixture[str],
    command: str,
    args: list[str],
    query: str,
) -> None:
    """GET /api/v1/<command>?<options> returns what the CLI prints with --format json."""
    path = "/api/v1/" + command.replace(" ", "/") + query
    response = TestClient(app).get(path, headers=tokens["viewer"])
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert same_json(response.json(), cli_json(capsys, demo, command, args))


def same_json(left: object, right: object) -> bool:
    """Equal JSON, numbers to 1e-9 relative (DuckDB's parallel sums may differ in the last bit)."""
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(same_json(left[k], right[k]) for k in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(same_json, left, right))
    if isinstance(left, float) or isinstance(right, float):
        both = isinstance(left, int | float) and isinstance(right, int | float)
        return both and math.isclose(left, right, rel_tol=1e-9, abs_tol=1e-9)  # type: ignore[arg-type]
    return left == right


def cli_commands(command: Any, prefix: str = "") -> set[str]:
    """Every command of the CLI as typed after ``missionline`` (a group that runs is one too)."""
    # typer may vendor its own click: groups are recognised by having commands
    found = set()
    for name, sub in getattr(command, "commands", {}).items():
        full = f"{prefix} {name}".strip()
        if not hasattr(sub, "commands") or sub.invoke_without_command:
            found.add(full)
        found |= cli_commands(sub, full)
    return found


def test_every_metric_command_of_the_cli_is_served() -> None:
    """The registry holds every command of ``missionline --help`` but the non-metric ones."""
    names = {c.name for c in COMMANDS}
    commands = cli_commands(typer.main.get_command(cli_app))
    assert commands >= NOT_METRICS
    assert names == commands - NOT_METRICS
    assert names == {case[0] for case in CASES}


def test_the_openapi_document_lists_every_command_and_its_options(
    app: FastAPI, tokens: dict[str, dict[str, str]]
) -> None:
    """/api/v1/openapi.json (authenticated) names each route and the CLI's option names."""
    client = TestClient(app)
    assert client.get("/api/v1/openapi.json").status_code == 401
    document = client.get("/api/v1/openapi.json", headers=tokens["viewer"]).json()
    assert "bearer" in json.dumps(document["components"]["securitySchemes"]).lower()
    for api in COMMANDS:
        operation = document["paths"][api.path]["get"]
        names = {p["name"] for p in operation.get("parameters", [])}
        expected = {
            max(opts, key=len).lstrip("-")
            for name, opts, _ in cli_options(api.cli)
            if name not in ("workspace", "db", "fmt", *api.view_only, *api.local_only)
        }
        assert names == expected, api.name
    assert "/api/v1/imports" in document["paths"]
    assert not any(p in document["paths"] for p in ("/", "/process", "/login"))


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ("/api/v1/funnel?by=planet", 400, "unknown dimension 'planet'"),
        ("/api/v1/funnel?period=fortnight", 400, "unknown period"),
        ("/api/v1/sla?as-of=2025-01-01", 400, "add --open"),
        ("/api/v1/sla?open=true&as-of=yesterday", 400, "invalid --as-of"),
        ("/api/v1/velocity?threshold=mql", 400, "invalid --threshold"),
        ("/api/v1/wave?kind=gift", 400, "unknown opportunity kind gift"),
        ("/api/v1/verify?sample=-1", 422, "greater than or equal to 0"),
        ("/api/v1/wave?max-lag=100000000", 422, "less than or equal to 520"),
        ("/api/v1/attribution?function=%00", 400, "contains a NUL character"),
        ("/api/v1/experiment/analyze?experiment_id=nope", 400, "nope"),
        ("/api/v1/scenario?set=budget.x", 400, "budget.x"),
    ],
)
def test_mistakes_are_400_with_the_cli_message(
    app: FastAPI, tokens: dict[str, dict[str, str]], query: str, status: int, message: str
) -> None:
    """A bad option gets the CLI's own message (400), a bad type FastAPI's (422)."""
    response = TestClient(app).get(query, headers=tokens["viewer"])
    assert response.status_code == status
    assert message in response.text


def test_a_session_reads_the_api_but_writes_only_with_its_csrf_token(app: FastAPI) -> None:
    """The browser's session may GET the API; its POST needs the X-CSRF-Token header."""
    client = client_as(app, "analyst")
    assert client.get("/api/v1/plan/linkage").status_code == 200
    files = {"files": ("owners.csv", b"owner_id,name\nown_x,X\n", "text/csv")}
    assert client.post("/api/v1/imports", files=files).status_code == 403
    headers = {"X-CSRF-Token": csrf_token(client)}
    assert client.post("/api/v1/imports", files=files, headers=headers).status_code == 200


def test_imports_by_token_need_the_analyst_role_and_refresh_the_cache(
    app: FastAPI, tokens: dict[str, dict[str, str]], tmp_path: Path
) -> None:
    """A viewer's upload is 403; an analyst's loads, and the next answer includes the new rows."""
    client = TestClient(app)
    before = client.get("/api/v1/funnel", headers=tokens["viewer"]).json()
    people = b"person_id,created_at,source_channel\nzz1,2025-01-01,webinar\n"
    events = b"record_id,record_type,stage,entered_at\nzz1,person,lead,2025-01-02 10:00:00\n"
    files = [
        ("files", ("people.csv", people, "text/csv")),
        ("files", ("stage_events.csv", events, "text/csv")),
    ]
    assert client.post("/api/v1/imports", files=files, headers=tokens["viewer"]).status_code == 403
    response = client.post("/api/v1/imports", files=files, headers=tokens["analyst"])
    assert response.status_code == 200
    loaded = {t["table"]: t["inserted"] for t in response.json()["tables"]}
    assert loaded == {"people": 1, "stage_events": 1}
    after = client.get("/api/v1/funnel", headers=tokens["viewer"]).json()
    lead = next(r for r in after if r["stage"] == "lead")["entries"]
    assert lead == next(r for r in before if r["stage"] == "lead")["entries"] + 1


def test_an_import_with_errors_names_file_row_and_column_and_writes_nothing(
    app: FastAPI, tokens: dict[str, dict[str, str]], tmp_path: Path
) -> None:
    """Bad rows: 400 with file, row and column for each problem; the tables are unchanged."""
    client = TestClient(app)
    counts = client.get("/api/v1/funnel", headers=tokens["viewer"]).json()
    bad = write(
        tmp_path / "people.csv",
        """
        person_id,created_at,source_channel
        ok1,2025-01-01,webinar
        bad1,not a date,webinar
        """,
    ).read_bytes()
    files = {"files": ("people.csv", bad, "text/csv")}
    response = client.post("/api/v1/imports", files=files, headers=tokens["analyst"])
    assert response.status_code == 400
    body = response.json()
    assert "nothing was written" in body["error"]
    problem = body["problems"][0]
    assert (problem["file"], problem["line"], problem["column"]) == ("people.csv", 3, "created_at")
    assert "/.uploads/" not in response.text
    assert client.get("/api/v1/funnel", headers=tokens["viewer"]).json() == counts


def test_a_page_snapshot_never_sees_half_an_import(app: FastAPI) -> None:
    """A request's snapshot keeps its numbers while an import commits; the next one sees it."""
    pool = app.state.missionline.pool
    people = pool.folder.parent / "late" / "people.csv"
    write(people, "person_id,created_at\nlate1,2025-03-01\nlate2,2025-03-02\n")

    def load() -> None:
        with pool.importing() as importer:
            importer.import_files([people])

    with pool.snapshot() as ws:
        before = ws.db.table("people").count().execute()
        worker = threading.Thread(target=load)
        worker.start()
        worker.join()
        assert ws.db.table("people").count().execute() == before
    with pool.snapshot() as ws:
        assert ws.db.table("people").count().execute() == before + 2
