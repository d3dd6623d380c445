"""Attribution on the demo company: true channel effects recovered, the CLI and report sections."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import typer
from scipy.stats import spearmanr
from typer.testing import CliRunner, Result

from missionline.cli.attribution import Model, register_attribution_commands
from missionline.demo.generator import generate_company, write_company
from missionline.models.attribution import MODELS, attribute, workspace_paths
from missionline.models.attribution.markov import build_chain, removal_effects
from missionline.report.attribution_section import attribution_section, initiative_roi_section
from missionline.workspace import Workspace

from conftest import write


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, dict[str, Any]]:
    """A 20,000-lead demo company imported into a workspace, with its truth."""
    folder = tmp_path_factory.mktemp("demo")
    company = generate_company(leads=20_000, seed=31)
    write_company(company, folder / "data")
    ws = Workspace.init(folder / "ws", "demo")
    ws.import_files([folder / "data"])
    yield ws, company.truth  # type: ignore[misc]
    ws.close()


def cli(*args: str) -> Result:
    """Run ``missionline attribution ARGS`` on an app holding only this command."""
    app = typer.Typer()

    @app.callback()
    def group() -> None:
        """Keep ``attribution`` a sub-command, as in the real app."""

    register_attribution_commands(app)
    return CliRunner().invoke(app, ["attribution", *args])


def test_first_touch_conversion_ranks_the_true_channel_effects(
    demo: tuple[Workspace, dict[str, Any]],
) -> None:
    """People's win rate by first-touch channel ranks channels as the demo's true multipliers do.

    The generator multiplies every funnel step by a factor of the person's source channel, which
    is the channel of the touch that made them a lead: their product orders the channels' true
    lead-to-win rates (referral highest, paid search lowest).
    """
    ws, truth = demo
    paths = workspace_paths(ws.tables(), ws.schema, ws.plan, "person")
    first = paths.codes[paths.offsets[:-1]]
    size = len(paths.channels)
    rate = np.bincount(first, weights=paths.conversions, minlength=size) / np.bincount(
        first, minlength=size
    )
    multipliers = truth["funnel_parameters"]["ch_mult"]
    true = [np.prod([multipliers[step][c] for step in multipliers]) for c in paths.channels]
    assert spearmanr(rate, true).statistic >= 0.9
    assert paths.channels[int(np.argmax(rate))] == "referral"


def test_markov_on_the_demo_credits_every_win(demo: tuple[Workspace, dict[str, Any]]) -> None:
    """Every person with a won deal is one conversion; the chain converts at the observed rate."""
    ws, _ = demo
    deals = ws.table("opportunities")
    winners = deals[(deals["status"] == "won") & deals["person_id"].notna()]["person_id"].nunique()
    paths = workspace_paths(ws.tables(), ws.schema, ws.plan, "person")
    assert paths.conversions.sum() == winners
    result = removal_effects(build_chain(paths, 2), len(paths.channels), 2)
    assert result.conversion_probability == pytest.approx(winners / len(paths), rel=1e-9)
    assert ((result.removal_effects > 0) & (result.removal_effects <= 1)).all()
    frame = attribute(paths, "markov").channels
    assert frame["conversions"].sum() == pytest.approx(winners)
    assert frame["value"].sum() == pytest.approx(paths.value.sum())


def test_cli_markov_json_contract(demo: tuple[Workspace, dict[str, Any]]) -> None:
    """The default model is markov; its JSON has the channels and their removal effects."""
    ws, _ = demo
    result = cli("-w", str(ws.folder), "--format", "json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert set(payload) == {"model", "channels", "removal_effects"}
    assert payload["model"] == "markov"
    channels = [row["channel"] for row in payload["channels"]]
    assert set(payload["removal_effects"]) == set(channels)
    assert all(set(row) == {"channel", "conversions", "value"} for row in payload["channels"])


def test_cli_all_models_side_by_side(demo: tuple[Workspace, dict[str, Any]]) -> None:
    """--model all prints a column per model (table and CSV) and every model's object in JSON."""
    ws, _ = demo
    result = cli("-w", str(ws.folder), "--model", "all", "--format", "json")
    assert result.exit_code == 0, result.output
    models = json.loads(result.stdout)["models"]
    assert [m["model"] for m in models] == list(MODELS)
    totals = {m["model"]: sum(r["conversions"] for r in m["channels"]) for m in models}
    assert max(totals.values()) - min(totals.values()) < 1e-6
    csv = cli(
        "-w", str(ws.folder), "-m", "all", "--level", "account", "--by", "initiative", "-f", "csv"
    )
    assert csv.exit_code == 0, csv.output
    assert csv.stdout.splitlines()[0] == ",".join(["channel", *MODELS])
    table = cli("-w", str(ws.folder), "-m", "all", "--function", "marketing", "--lookback", "90d")
    assert table.exit_code == 0 and "all models" in table.stdout


def test_cli_model_options(demo: tuple[Workspace, dict[str, Any]]) -> None:
    """--order, --half-life, --shapley-value and --samples reach the models."""
    ws, _ = demo
    for args in (
        ["-m", "markov", "--order", "3", "--level", "opportunity"],
        ["-m", "time_decay", "--half-life", "2w"],
        ["-m", "shapley", "--shapley-value", "conversion_rate", "--samples", "50"],
    ):
        result = cli("-w", str(ws.folder), *args, "-f", "json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["model"] == args[1]
    assert {m.value for m in Model} == {*MODELS, "all"}


def test_cli_initiative_roi(demo: tuple[Workspace, dict[str, Any]]) -> None:
    """--roi lists every initiative with ROI = (attributed revenue - cost) / cost."""
    ws, _ = demo
    result = cli("-w", str(ws.folder), "--roi", "-f", "json")
    assert result.exit_code == 0, result.output
    rows = {row["initiative"]: row for row in json.loads(result.stdout)}
    assert {i.id for i in ws.plan.initiatives} <= set(rows)
    for row in rows.values():
        if row["cost"] > 0:
            expected = (row["attributed_revenue"] - row["cost"]) / row["cost"]
            assert row["roi"] == pytest.approx(expected)
        else:
            assert row["roi"] is None


def test_cli_reads_a_paths_file(tmp_path: Path) -> None:
    """--paths reads the common aggregated format; models needing touch times are left out."""
    source = write(
        tmp_path / "paths.csv",
        """
        path,total_conversions,total_conversion_value,total_null
        C1 > C2 > C3,1,10,0
        C1,0,0,1
        C2 > C3,0,0,1
    """,
    )
    result = cli("--paths", str(source), "-f", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["removal_effects"] == pytest.approx(
        {"C1": 0.5, "C2": 1.0, "C3": 1.0}
    )
    every = cli("--paths", str(source), "-m", "all", "-f", "json")
    assert [m["model"] for m in json.loads(every.stdout)["models"]] == [
        "first_touch",
        "last_touch",
        "linear",
        "u_shaped",
        "markov",
        "shapley",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--level", "account"], "--level applies to a workspace"),
        (["--roi"], "--roi applies to a workspace"),
        (["-m", "w_shaped"], "w_shaped needs the lead- and opportunity-creation touches"),
        (["-m", "time_decay"], "time_decay needs the time of each touch"),
        (["--half-life", "soon"], "invalid duration"),
    ],
)
def test_cli_refuses_what_a_paths_file_cannot_do(
    tmp_path: Path, args: list[str], message: str
) -> None:
    """Workspace-only options and models are refused with a user error (exit status 2)."""
    source = write(tmp_path / "paths.csv", "path,total_conversions\nA > B,1\n")
    result = cli("--paths", str(source), *args)
    assert result.exit_code != 0
    assert message in str(result.exception)


def test_cli_bad_paths_file_names_row_and_column(tmp_path: Path) -> None:
    """A bad value in a paths file is reported with its line and column."""
    source = write(tmp_path / "paths.csv", "path,total_conversions\nA > B,1\nB,lots\n")
    result = cli("--paths", str(source))
    assert "total_conversions" in str(result.exception)
    assert ":3:total_conversions: 'lots' is not a number" in result.exception.render()  # type: ignore[union-attr]


def test_cli_roi_option_conflicts(demo: tuple[Workspace, dict[str, Any]]) -> None:
    """--roi needs one model and is always by initiative; the Markov order is 1 to 4."""
    ws, _ = demo
    result = cli("-w", str(ws.folder), "--roi", "-m", "all")
    assert "choose a --model" in str(result.exception)
    result = cli("-w", str(ws.folder), "--roi", "--by", "channel")
    assert "always by initiative" in str(result.exception)
    assert cli("-w", str(ws.folder), "--order", "5").exit_code == 2


def test_report_sections_on_the_demo(demo: tuple[Workspace, dict[str, Any]]) -> None:
    """Both sections have a chart, every model in the table, and a reading with numbers."""
    ws, _ = demo
    section = attribution_section(ws)
    assert section is not None and section.charts
    assert section.columns == ["channel", *MODELS]
    assert "conversions" in section.reading and "Markov" in section.reading
    roi = initiative_roi_section(ws)
    assert roi is not None and roi.charts
    assert "ROI" in roi.reading and "ini_" in roi.reading


def test_report_sections_skip_a_workspace_without_touches(workspace: Workspace) -> None:
    """An empty workspace has no attribution sections."""
    assert attribution_section(workspace) is None
    assert initiative_roi_section(workspace) is None
