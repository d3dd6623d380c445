"""The command line: every command works on a workspace and prints table, JSON or CSV."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from missionline.cli.main import main
from missionline.workspace import Workspace

from conftest import load_fixture


@pytest.fixture
def folder(workspace: Workspace, tmp_path: Path) -> Path:
    """A workspace folder with the fixture company, closed so the CLI can open it."""
    load_fixture(workspace, tmp_path / "files")
    workspace.close()
    return workspace.folder


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run the CLI in-process; return the exit status, stdout and stderr."""
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_init_creates_plan_and_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """init writes missionline.yaml and the DuckDB file, and refuses to overwrite."""
    code, out, _ = run(capsys, "init", "-w", str(tmp_path / "w"))
    assert code == 0 and "created workspace" in out
    assert (tmp_path / "w" / "missionline.yaml").is_file()
    assert (tmp_path / "w" / "missionline.duckdb").is_file()
    code, _, err = run(capsys, "init", "-w", str(tmp_path / "w"))
    assert code == 2 and "already a workspace" in err


def test_init_from_example_folder_and_demo(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--from copies the plan of a folder, a file or the packaged demo."""
    assert run(capsys, "init", "-w", str(tmp_path / "d"), "--from", "demo")[0] == 0
    assert "Northwind" in (tmp_path / "d" / "missionline.yaml").read_text()
    assert run(capsys, "init", "-w", str(tmp_path / "e"), "--from", str(tmp_path / "d"))[0] == 0
    code, _, err = run(capsys, "init", "-w", str(tmp_path / "f"), "--from", "nowhere")
    assert code == 2 and "no packaged example called 'nowhere'" in err


def test_db_url_is_remembered(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--db selects another database URL and the workspace keeps using it."""
    url = f"duckdb://{tmp_path / 'elsewhere.duckdb'}"
    assert run(capsys, "init", "-w", str(tmp_path / "w"), "--db", url)[0] == 0
    assert (tmp_path / "elsewhere.duckdb").is_file()
    assert not (tmp_path / "w" / "missionline.duckdb").exists()
    assert run(capsys, "funnel", "-w", str(tmp_path / "w"))[0] == 0


def test_memory_limit_from_settings_and_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """DuckDB's memory limit comes from $MISSIONLINE_MEMORY_LIMIT or the settings file."""
    Workspace.init(tmp_path / "w").close()
    (tmp_path / "w" / ".missionline.json").write_text('{"memory_limit": "700MB"}')
    with Workspace.open(tmp_path / "w") as ws:
        limit = ws.db.raw_sql("SELECT current_setting('memory_limit')").fetchone()[0]
        assert limit.startswith("667") or limit.startswith("700")  # DuckDB prints MiB
    monkeypatch.setenv("MISSIONLINE_MEMORY_LIMIT", "plenty")
    code, _, err = run(capsys, "funnel", "-w", str(tmp_path / "w"))
    assert code == 2 and "invalid memory limit 'plenty'" in err
    (tmp_path / "w" / ".missionline.json").write_text("{oops")
    monkeypatch.delenv("MISSIONLINE_MEMORY_LIMIT")
    code, _, err = run(capsys, "funnel", "-w", str(tmp_path / "w"))
    assert code == 2 and ".missionline.json:1:2: not valid JSON" in err


def test_funnel_formats(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """funnel prints the same numbers as a table, JSON and CSV."""
    code, out, _ = run(capsys, "funnel", "-w", str(folder), "--format", "json")
    assert code == 0
    rows = json.loads(out)
    assert [r["stage"] for r in rows] == ["lead", "mql", "sal", "sql", "opportunity", "won"]
    assert set(rows[0]) == {
        "stage",
        "entries",
        "conversion_to_next",
        "cumulative_conversion",
        "median_days_to_next",
        "p90_days_to_next",
    }
    assert rows[-1]["conversion_to_next"] is None
    code, out, _ = run(capsys, "funnel", "-w", str(folder), "-f", "csv")
    assert out.splitlines()[0].startswith("stage,entries,conversion_to_next")
    assert len(out.splitlines()) == 7
    code, out, _ = run(capsys, "funnel", "-w", str(folder))
    assert "opportunity" in out and "entries" in out


def test_funnel_by_and_period_keys(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Each --by dimension and --period adds a key to every JSON object."""
    code, out, _ = run(
        capsys,
        "funnel",
        "-w",
        str(folder),
        "--by",
        "channel",
        "--by",
        "market",
        "--period",
        "quarter",
        "--within",
        "30d",
        "-f",
        "json",
    )
    assert code == 0
    rows = json.loads(out)
    assert {"channel", "market", "period"} <= set(rows[0])
    assert all(re.fullmatch(r"\d{4}-\d{2}-01", r["period"]) for r in rows)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--by", "colour"], "unknown dimension 'colour'"),
        (["--period", "fortnight"], "unknown period 'fortnight'"),
        (["--within", "soon"], "invalid duration 'soon'"),
        (["--basis", "vibes"], "unknown basis 'vibes'"),
    ],
)
def test_funnel_bad_options(
    folder: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    """Bad options are explained and exit 2."""
    code, _, err = run(capsys, "funnel", "-w", str(folder), *args)
    assert code == 2 and message in err and "Traceback" not in err


def test_not_a_workspace(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Commands on a folder without a plan say how to create one."""
    code, _, err = run(capsys, "funnel", "-w", str(tmp_path))
    assert code == 2 and "missionline init" in err


def test_export_command(folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """export writes one file per canonical table."""
    code, _out, _ = run(
        capsys, "export", "-w", str(folder), "-o", str(tmp_path / "out"), "--format", "csv"
    )
    assert code == 0
    assert len(list((tmp_path / "out").glob("*.csv"))) == 10


def test_report_is_self_contained(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The report embeds Plotly and requests nothing from the network."""
    out = tmp_path / "report.html"
    assert run(capsys, "report", "-w", str(folder), "-o", str(out))[0] == 0
    html = out.read_text()
    assert "Plotly" in html and "Definitions" in html
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=[\"']?(https?:)?//", html)
    assert "Sales accepted lead" in html  # generated from the plan


def test_plan_check_csv_and_report_default(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """plan check prints CSV rows; report writes into the workspace by default."""
    code, out, _ = run(capsys, "plan", "check", "-w", str(folder), "-f", "csv")
    assert code == 0 and out.splitlines()[0] == "severity,rule,message,file,line,column,object"
    assert run(capsys, "report", "-w", str(folder))[0] == 0
    assert (folder / "report.html").is_file()


def test_usage_errors_exit_2_without_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown option is a usage error (exit 2), shown by the parser, not a crash."""
    code, _, err = run(capsys, "funnel", "--nope")
    assert code == 2 and "No such option" in err and "Traceback" not in err


def test_wave_max_lag_is_bounded(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``wave --max-lag`` accepts 0 to 520 weeks and refuses more with a usage error."""
    assert run(capsys, "wave", "-w", str(folder), "--lag", "--max-lag", "520")[0] == 0
    code, _, err = run(capsys, "wave", "-w", str(folder), "--lag", "--max-lag", "600")
    assert code == 2 and "less than or equal to 520" in err


def test_the_cli_runs_without_the_web_extra(folder: Path) -> None:
    """Without the web extra's packages, every command but serve loads and runs (make demo)."""
    blocked = ["fastapi", "starlette", "uvicorn", "jinja2", "multipart", "argon2", "markupsafe"]
    script = (
        "import sys\n"
        f"sys.modules.update(dict.fromkeys({blocked!r}))\n"  # None: importing them fails
        "from missionline.cli.main import main\n"
        f"sys.exit(main(['funnel', '-w', {str(folder)!r}, '--format', 'json']))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
