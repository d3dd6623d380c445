"""Questionnaire invitations: single-use, expiring, hashed tokens reaching a CSRF-protected form."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from missionline.alignment.survey import instrument
from missionline.cli.alignment import register_alignment_commands
from missionline.web.store import digest
from test_web_support import client_as, csrf_token, fixture_workspace, web_app

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture company's workspace with a user of every role."""
    return fixture_workspace(tmp_path_factory.mktemp("survey"))


def invite(app: FastAPI, function: str = "sales", days: float = 30) -> str:
    """A new invitation's path, made through the admin's form on the Alignment page."""
    admin = client_as(app, "admin")
    form = {"respondent": "Sam", "function": function, "days": str(days)}
    page = admin.post("/alignment/invite", data={**form, "csrf_token": csrf_token(admin)})
    assert page.status_code == 200, page.text
    link = re.search(r'id="invite-link">([^<]+)<', page.text)
    assert link is not None
    return link.group(1)


def answers(app: FastAPI, score: str = "4") -> dict[str, str]:
    """A complete questionnaire: every statement of the plan's instrument answered."""
    return {f"q_{s.id}": score for s in instrument(app.state.missionline.pool.plan)}


def responses(app: FastAPI) -> int:
    """How many questionnaire answers the database holds."""
    with app.state.missionline.pool.snapshot() as ws:
        return int(ws.db.table("survey_responses").count().execute())


def submit(client: TestClient, path: str, fields: dict[str, str]) -> tuple[int, str]:
    """Open the form (getting its CSRF cookie) and post ``fields`` with its token.

    A closed link's page has no form: the token is then the cookie's, as a replayed post has.
    """
    page = client.get(path)
    token = CSRF.search(page.text)
    cookie = client.cookies.get("missionline_survey_csrf") or ""
    data = {**fields, "csrf_token": token.group(1) if token else cookie}
    response = client.post(path, data=data)
    return response.status_code, response.text


def test_the_cli_prints_a_link_whose_token_is_stored_hashed(folder: Path) -> None:
    """``survey invite`` prints /survey/<token>; only the token's digest is in the database."""
    cli = typer.Typer()
    register_alignment_commands(cli)
    args = ["survey", "invite", "-w", str(folder), "--respondent", "Ann", "--function", "sales"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    path = result.stdout.strip()
    assert re.fullmatch(r"/survey/[A-Za-z0-9_-]{40,}", path)
    wrong = CliRunner().invoke(cli, [*args[:-1], "finance"])
    assert wrong.exit_code != 0 and "unknown function 'finance'" in str(wrong.exception)
    fresh = web_app(folder)
    try:
        with fresh.state.missionline.pool.store() as store:
            rows = store._run("SELECT digest FROM missionline_invites")
        secret = path.rsplit("/", 1)[1]
        assert (digest(secret),) in rows and all(secret not in str(r) for r in rows)
        assert "Ann (sales)" in TestClient(fresh).get(path).text
    finally:
        fresh.state.missionline.pool.close()


def test_a_valid_link_records_the_answers_once(folder: Path) -> None:
    """A complete form is stored for the invited respondent; the link then only thanks (410)."""
    application = web_app(folder)
    try:
        path = invite(application)
        before = responses(application)
        client = TestClient(application)
        page = client.get(path)
        assert page.status_code == 200 and "Sam (sales)" in page.text
        assert page.text.count('type="radio"') == 5 * len(answers(application))
        status, text = submit(client, path, answers(application))
        assert status == 200 and "your answers are recorded" in text
        assert responses(application) == before + len(answers(application))
        again = TestClient(application)
        assert again.get(path).status_code == 410
        status, text = submit(again, path, answers(application, "1"))
        assert status == 410 and "cannot be used again" in text
        assert responses(application) == before + len(answers(application))
        assert "Questionnaire" in client_as(application, "viewer").get("/alignment").text
    finally:
        application.state.missionline.pool.close()


def test_expired_forged_and_incomplete_submissions_store_nothing(folder: Path) -> None:
    """An expired link is 410, a made-up one 404, missing answers 400, a missing CSRF token 403."""
    application = web_app(folder)
    try:
        before = responses(application)
        expired = invite(application)
        with application.state.missionline.pool.store_writer() as store:
            store._run(
                "UPDATE missionline_invites SET expires_at = created_at WHERE digest = ?",
                digest(expired.rsplit("/", 1)[1]),
            )
        client = TestClient(application)
        assert "expired" in client.get(expired).text
        assert submit(client, expired, answers(application))[0] == 410
        assert client.get("/survey/made-up-token").status_code == 404
        assert submit(client, "/survey/made-up-token", answers(application))[0] == 404
        live = invite(application)
        partial = dict(list(answers(application).items())[:3])
        status, text = submit(client, live, partial)
        assert status == 400 and "Please answer every statement" in text
        status, text = submit(client, live, {**answers(application), "q_q01": "9"})
        assert status == 400 and "q01" in text
        forged = TestClient(application).post(live, data={**answers(application)})
        assert forged.status_code == 403
        assert responses(application) == before
        assert submit(client, live, answers(application))[0] == 200  # still usable afterwards
    finally:
        application.state.missionline.pool.close()


def test_only_admins_create_invitations(folder: Path) -> None:
    """Viewers and analysts see no invitation form and their posts are refused."""
    application = web_app(folder)
    try:
        for role in ("viewer", "analyst"):
            client = client_as(application, role)
            assert "Create invitation" not in client.get("/alignment").text
            form = {"respondent": "X", "function": "sales", "csrf_token": csrf_token(client)}
            assert client.post("/alignment/invite", data=form).status_code == 403
        admin = client_as(application, "admin")
        assert "Create invitation" in admin.get("/alignment").text
        form = {"respondent": "X", "function": "nope", "csrf_token": csrf_token(admin)}
        bad = admin.post("/alignment/invite", data=form)
        assert bad.status_code == 400 and "unknown function &#39;nope&#39;" in bad.text
    finally:
        application.state.missionline.pool.close()
