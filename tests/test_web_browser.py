"""In a real browser: log in, see every page, filter, import with an error, log out; no XSS.

Playwright drives Debian's Chromium (``/usr/bin/chromium``, installed by
``scripts/install-test-deps`` when possible) against uvicorn on a free local port. Names in the
data carry script payloads; the pages must show them as text and run none of them. A
screenshot of each page is saved under ``test-artifacts/web/``.
"""

from __future__ import annotations

import importlib.util
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from missionline.web.store import open_store
from missionline.workspace import Workspace
from test_web_support import CHEAP, PASSWORD, USERS, web_app

from conftest import ROOT, load_fixture, require, write

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts" / "web"
PAYLOADS = {
    "segment": "<script>window.__pwned = 1</script>",
    "channel": "<img src=x onerror=window.__pwned=2>",
    "owner": '"><svg onload=window.__pwned=3>',
}


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def hostile_workspace(folder: Path) -> Path:
    """The fixture company with script payloads as a segment, a channel and an owner name.

    A touch by the hostile channel's person puts the channel in the inputs table.
    """
    with Workspace.init(folder / "ws") as ws:
        load_fixture(ws, folder / "files")
        write(
            folder / "more" / "owners.csv",
            f"owner_id,name,team\nown1,'{PAYLOADS['owner']}',sdr\n".replace("'", '"'),
        )
        write(
            folder / "more" / "accounts.csv",
            f"account_id,name,market,segment\na9,Evil,europe,{PAYLOADS['segment']}\n",
        )
        write(
            folder / "more" / "people.csv",
            f"person_id,account_id,created_at,source_channel\nx1,a9,2024-01-05,{PAYLOADS['channel']}\n",
        )
        write(
            folder / "more" / "touches.csv",
            "touch_id,person_id,at,function,kind\nt1,x1,2024-01-06,marketing,email\n",
        )
        ws.import_files([folder / "more"])
        store = open_store(ws.db)
        store.add_user(USERS["admin"], "admin", CHEAP.hash(PASSWORD))
    return folder / "ws"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """uvicorn serving the hostile workspace on a free port (secure cookies, as by default)."""
    require(importlib.util.find_spec("playwright") is not None, "playwright is not installed")
    require(CHROMIUM.exists(), f"{CHROMIUM} is missing (scripts/install-test-deps installs it)")
    import uvicorn

    app = web_app(hostile_workspace(tmp_path_factory.mktemp("browser")), secure_cookies=True)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)
    app.state.missionline.pool.close()


@pytest.fixture(scope="module")
def browser(server: str) -> Iterator[Any]:
    """A headless Chromium page, with every dialog and console message recorded."""
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        page = chromium.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(120_000)  # the first view of a page computes its metrics
        page.dialogs = []  # type: ignore[attr-defined]
        page.console_errors = []  # type: ignore[attr-defined]
        page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))  # type: ignore[attr-defined]
        page.on(
            "console",
            lambda m: m.type == "error" and page.console_errors.append(m.text),  # type: ignore[attr-defined]
        )
        yield page
        chromium.close()


def shot(page: Any, name: str) -> None:
    """Save a full-page screenshot as a test artifact."""
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def assert_nothing_ran(page: Any) -> None:
    """No payload executed: no flag set, no dialog, no script refused by the CSP."""
    assert page.evaluate("window.__pwned") is None
    assert page.dialogs == []
    assert not [e for e in page.console_errors if "Content Security Policy" in e]


def test_a_user_works_through_every_page(server: str, browser: Any) -> None:
    """Log in, visit each page, filter, import a bad file, answer the questionnaire, log out."""
    page = browser
    page.goto(server + "/process")
    assert "/login" in page.url
    shot(page, "login")
    page.fill("#name", USERS["admin"])
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(server + "/process")
    assert page.locator(".js-plotly-plot").count() >= 2  # charts drawn despite the strict CSP
    shot(page, "process")
    for path, name in (
        ("/", "overview"),
        ("/plan", "plan"),
        ("/customers", "customers"),
        ("/initiatives", "initiatives"),
        ("/alignment", "alignment"),
        ("/users", "users"),
        ("/tokens", "tokens"),
    ):
        page.goto(server + path)
        assert page.locator("h1").first.is_visible()
        shot(page, name)
        assert_nothing_ran(page)

    page.goto(server + "/")
    page.select_option("select[name=market]", "europe")
    page.click("text=Apply")
    page.wait_for_url("**/?*market=europe*")
    assert "market = europe" in page.inner_text(".filters")
    shot(page, "overview-filtered")

    page.goto(server + "/data")
    bad = b"person_id,created_at\nz1,2024-01-01\nz2,not-a-date\n"
    page.set_input_files(
        "input[name=files]", files=[{"name": "people.csv", "mimeType": "text/csv", "buffer": bad}]
    )
    page.click("text=Validate and import")
    errors = page.locator("#import-errors")
    errors.wait_for()
    assert "nothing was written" in errors.inner_text()
    assert "created_at" in errors.inner_text() and "not-a-date" in errors.inner_text()
    shot(page, "data-import-error")

    page.goto(server + "/alignment")
    page.fill("input[name=respondent]", "Sam")
    page.select_option("select[name=function]", "sales")
    page.click("text=Create invitation")
    link = page.locator("#invite-link").inner_text()
    page.goto(server + link)
    statements = page.locator("fieldset")
    for i in range(statements.count()):
        statements.nth(i).locator("input[value='4']").check()
    shot(page, "questionnaire")
    page.click("text=Send my answers")
    page.locator("#survey-done").wait_for()
    assert "your answers are recorded" in page.inner_text("#survey-done")
    shot(page, "questionnaire-done")

    page.goto(server + "/")
    page.click("text=Log out")
    page.wait_for_url("**/login")
    page.goto(server + "/")
    assert "/login" in page.url


def test_hostile_names_are_shown_as_text_and_never_run(server: str, browser: Any) -> None:
    """Script payloads in a segment, a channel and an owner name appear literally, inert."""
    page = browser
    page.goto(server + "/login")
    page.fill("#name", USERS["admin"])
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(server + "/")
    options = page.locator("select[name=segment] option").all_inner_texts()
    assert PAYLOADS["segment"] in options
    assert any(
        PAYLOADS["owner"] in o for o in page.locator("select[name=owner] option").all_inner_texts()
    )
    page.goto(server + "/process")
    assert PAYLOADS["channel"] in page.inner_text("#inputs")
    shot(page, "process-hostile-names")
    assert_nothing_ran(page)
    page.goto(server + "/?segment=" + PAYLOADS["segment"].replace(" ", "%20"))
    assert PAYLOADS["segment"] in page.inner_text(".filters")
    assert_nothing_ran(page)
