"""Dashboard sections are cached one by one, and the Plan page compares the saved scenarios."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from missionline.cli.main import main
from missionline.errors import MissionlineError
from missionline.report.section import Section
from missionline.web import pages
from missionline.web.scenarios import scenarios_section
from missionline.web.warm import keep_warm
from missionline.workspace import Workspace
from test_web_support import client_as, demo_workspace, web_app


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small demo company (400 leads; its plan saves two scenarios), with a user per role."""
    return demo_workspace(tmp_path_factory.mktemp("sections"), seed=5)


@pytest.fixture(scope="module")
def app(demo: Path) -> Iterator[FastAPI]:
    """The app over the demo workspace."""
    application = web_app(demo)
    yield application
    application.state.missionline.pool.close()


def counted(calls: list[str], section_id: str, fail_once: bool = False) -> pages.Builder:
    """A cheap section builder that records each call (and fails its first one if asked)."""

    def build(ws: Workspace) -> Section:
        calls.append(section_id)
        if fail_once and calls.count(section_id) == 1:
            raise RuntimeError("a section broke")
        return Section(section_id, section_id, f"reading of {section_id}", [], [], [])

    return build


def patch_pages(monkeypatch: pytest.MonkeyPatch, make: Callable[[str], pages.Builder]) -> None:
    """Give the Overview and Alignment pages cheap builders; both show ``alignment``."""
    shared = make("alignment")
    overview = (("mission", "Mission", make("mission")), ("alignment", "Alignment", shared))
    alignment = (("alignment", "Alignment", shared), ("survey", "Survey", make("survey")))
    monkeypatch.setitem(pages.PAGES, "overview", overview)
    monkeypatch.setitem(pages.PAGES, "alignment", alignment)


def test_a_section_two_pages_show_is_computed_once_per_filter(
    demo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The alignment section computed for the Overview is the Alignment page's too."""
    calls: list[str] = []
    patch_pages(monkeypatch, lambda sid: counted(calls, sid))
    app = web_app(demo)
    try:
        client = client_as(app, "viewer")
        for path in ("/", "/alignment", "/", "/?period=2025", "/alignment?period=2025"):
            response = client.get(path)
            assert response.status_code == 200, path
            assert "reading of alignment" in response.text
        assert sorted(calls) == sorted(["mission", "alignment", "survey"] * 2)
    finally:
        app.state.missionline.pool.close()


def test_a_failing_section_does_not_make_the_others_compute_again(
    demo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a section fails, the retry computes only what is not cached yet."""
    calls: list[str] = []
    patch_pages(monkeypatch, lambda sid: counted(calls, sid, fail_once=sid == "alignment"))
    app = web_app(demo)
    try:
        client = client_as(app, "viewer")
        client_errors = TestClient(app, raise_server_exceptions=False, cookies=client.cookies)
        assert client_errors.get("/").status_code == 500
        assert client.get("/").status_code == 200
        assert calls == ["mission", "alignment", "alignment"]
    finally:
        app.state.missionline.pool.close()


def test_the_plan_page_compares_the_saved_scenarios_with_the_baseline(
    app: FastAPI, demo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A viewer sees the scenarios section: the CLI's numbers side by side, and a chart."""
    text = client_as(app, "viewer").get("/plan").text
    start = text.index('<section class="card" id="scenarios">')
    html = text[start : text.index("</section>", start)]
    assert "plotly-graph-div" in html
    assert "Sharper SQL qualification (conversion.sql=+0.05)" in html
    capsys.readouterr()
    main(["scenario", "-w", str(demo), "--format", "json"])
    cli = json.loads(capsys.readouterr().out)
    assert [s["id"] for s in cli["scenarios"]] == ["sharper_qualification", "paid_search_cut"]
    with Workspace.open(demo) as ws:
        section = scenarios_section(ws)
    assert section.columns[3:] == ["baseline", "sharper_qualification", "paid_search_cut"]
    cells = {
        (r["success_factor"], r["measure"], r["stage"] or "", s): r[s]
        for r in section.rows
        for s in section.columns[3:]
    }
    assert len(cells) == len(cli["rows"])
    for row in cli["rows"]:
        key = (row["success_factor"], row["measure"], row["stage"] or "", row["scenario"])
        assert cells[key] == pytest.approx(row["value"], rel=1e-9, nan_ok=True), key


def test_a_plan_without_scenarios_says_how_to_save_one(demo: Path) -> None:
    """Without saved scenarios the section explains the missionline scenario --save step."""
    with Workspace.open(demo) as ws:
        bare = Workspace(ws.folder, ws.plan.model_copy(update={"scenarios": []}), ws.db)
        with pytest.raises(MissionlineError, match="scenario --set CHANGE"):
            scenarios_section(bare)


def test_served_pages_are_computed_before_the_first_visit_and_after_imports(
    demo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """keep_warm computes every page's sections in the background, again after an import."""
    calls: list[str] = []
    patch_pages(monkeypatch, lambda sid: counted(calls, sid))
    monkeypatch.setattr(pages, "PAGES", {k: pages.PAGES[k] for k in ("overview", "alignment")})
    app = web_app(demo)
    state = app.state.missionline
    try:
        warmer = keep_warm(state)
        assert warmer.thread is not None
        warmer.thread.join(timeout=60)
        assert sorted(calls) == ["alignment", "mission", "survey"]
        client = client_as(app, "viewer")
        assert client.get("/").status_code == 200 and client.get("/alignment").status_code == 200
        assert len(calls) == 3  # the visits found everything computed
        with state.pool.importing() as ws:
            ws.export(tmp_path / "again")
            ws.import_files([tmp_path / "again"])
        assert state.after_import is not None
        state.after_import().join(timeout=60)
        assert sorted(calls) == sorted(["alignment", "mission", "survey"] * 2)
    finally:
        warmer.stop()
        state.pool.close()
