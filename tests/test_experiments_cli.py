"""``missionline experiment`` on the demo (the known lift is recovered), on counts and bad files."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
from scipy import stats as sps
from statsmodels.stats.proportion import proportions_ztest
from typer.testing import CliRunner

from missionline.cli.experiments import register_experiment_commands
from missionline.demo.generator import generate_company, write_company
from missionline.errors import MissionlineError
from missionline.models.experiments import analyze_experiment, sample_size, traffic_per_day
from missionline.plan.check import check_plan
from missionline.report.experiments_section import experiments_section
from missionline.workspace import Workspace, packaged_example

from conftest import write

CONTRACT = {"experiment", "variants", "srm_p_value", "verdict"}
VARIANT_CONTRACT = {
    "variant",
    "units",
    "conversions",
    "rate",
    "lift_abs",
    "lift_abs_ci",
    "lift_rel",
    "lift_rel_ci",
    "p_value",
    "chance_to_win",
    "expected_loss",
}
EXPERIMENT = "exp_nurture_subject"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workspace, dict]]:
    """A 20,000-lead demo company imported into a workspace, with its truth."""
    folder = tmp_path_factory.mktemp("demo")
    company = generate_company(leads=20_000, seed=3)
    write_company(company, folder / "data")
    ws = Workspace.init(folder / "ws", "demo")
    ws.import_files([folder / "data"])
    yield ws, company.truth
    ws.close()


def run(*args: str) -> tuple[int, str, BaseException | None]:
    """Run the experiment commands on a local app; return the exit code, output and exception."""
    app = typer.Typer()
    register_experiment_commands(app)
    app.command("noop")(lambda: None)  # a second command keeps "experiment" a sub-command
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output, result.exception


def test_demo_plan_declares_the_generated_experiment() -> None:
    """The packaged demo plan declares exp_nurture_subject and checks without errors."""
    result = check_plan(packaged_example("demo"))
    assert not result.errors
    assert result.plan is not None
    (experiment,) = result.plan.experiments
    assert experiment.id == EXPERIMENT and experiment.metric.conversion == "mql"


def test_demo_lift_is_recovered_within_its_interval(demo: tuple[Workspace, dict]) -> None:
    """The true lead->mql lift of the demo lies in the interval; units match the assignment."""
    ws, truth = demo
    result = analyze_experiment(ws.tables(), ws.schema, ws.plan, EXPERIMENT)
    true = truth["experiment"]
    treatment, control = result.variant("treatment"), result.variant("control")
    assert treatment.lift_abs_ci is not None and control.rate is not None
    assert treatment.lift_abs_ci[0] < true["true_lift"] < treatment.lift_abs_ci[1]
    assert (control.units, treatment.units) == (true["n_control"], true["n_treatment"])
    se = math.sqrt(control.rate * (1 - control.rate) / control.units)
    assert abs(control.rate - true["control_rate"]) < 4 * se
    assert result.srm_p_value is not None and result.srm_p_value > 0.001
    assert result.pending_units == 0
    assert result.verdict in ("ship", "inconclusive")


def test_cli_json_follows_the_contract(demo: tuple[Workspace, dict]) -> None:
    """``experiment analyze --format json`` prints the contract's keys and the documented extras."""
    ws, _ = demo
    code, out, _ = run("experiment", "analyze", EXPERIMENT, "-w", str(ws.folder), "-f", "json")
    assert code == 0, out
    payload = json.loads(out)
    assert set(payload) >= CONTRACT
    assert {"metric", "method", "sequential", "cuped", "winner"} <= set(payload)
    for row in payload["variants"]:
        assert set(row) >= VARIANT_CONTRACT
    treatment = payload["variants"][1]
    low, high = treatment["lift_abs_ci"]
    assert low < treatment["lift_abs"] < high
    counts = [treatment["conversions"], payload["variants"][0]["conversions"]]
    units = [treatment["units"], payload["variants"][0]["units"]]
    assert treatment["p_value"] == pytest.approx(proportions_ztest(counts, units)[1])


@pytest.mark.parametrize("fmt", ["table", "csv"])
def test_cli_table_and_csv(demo: tuple[Workspace, dict], fmt: str) -> None:
    """The table shows the verdict; the CSV has one row per variant with interval bounds."""
    ws, _ = demo
    code, out, _ = run("experiment", "analyze", EXPERIMENT, "-w", str(ws.folder), "-f", fmt)
    assert code == 0, out
    if fmt == "table":
        assert "verdict:" in out and "sample-ratio check" in out
    else:
        lines = out.strip().splitlines()
        assert len(lines) == 3 and "lift_abs_ci_low" in lines[0]


def test_as_of_during_the_experiment_keeps_it_running(demo: tuple[Workspace, dict]) -> None:
    """Mid-experiment, recent units are pending and a fixed-horizon test says keep running."""
    ws, truth = demo
    result = analyze_experiment(ws.tables(), ws.schema, ws.plan, EXPERIMENT, as_of="2025-06-01")
    assert result.verdict == "keep running"
    assert result.pending_units > 0
    assigned = sum(v.assigned or 0 for v in result.variants)
    assert assigned < truth["experiment"]["n_control"] + truth["experiment"]["n_treatment"]


def test_unknown_experiment_names_the_known_ones(demo: tuple[Workspace, dict]) -> None:
    """An unknown experiment id is a user error listing the plan's experiments."""
    ws, _ = demo
    with pytest.raises(MissionlineError, match=EXPERIMENT):
        analyze_experiment(ws.tables(), ws.schema, ws.plan, "exp_nope")


def test_traffic_per_day_counts_entries_and_assignments(demo: tuple[Workspace, dict]) -> None:
    """Stage traffic: distinct entries in the last 28 days / 28; experiment: units per run day."""
    ws, truth = demo
    events = ws.table("stage_events")
    end = events["entered_at"].max().normalize() + pd.Timedelta(days=1)
    recent = events[(events.stage == "lead") & (events.entered_at >= end - pd.Timedelta(days=28))]
    per_day = traffic_per_day(ws.tables(), ws.schema, ws.plan, stage="lead")
    assert per_day == pytest.approx(recent.record_id.nunique() / 28)
    units = truth["experiment"]["n_control"] + truth["experiment"]["n_treatment"]
    run_days = (pd.Timestamp("2025-07-01") - pd.Timestamp("2025-04-01")).days
    assert traffic_per_day(ws.tables(), ws.schema, ws.plan, EXPERIMENT) == pytest.approx(
        units / run_days
    )


def test_plan_command_sample_size_and_duration(demo: tuple[Workspace, dict]) -> None:
    """``experiment plan`` gives the sample size and, with -w, the days at the lead traffic."""
    ws, _ = demo
    code, out, _ = run("experiment", "plan", "--baseline", "0.10", "--mde", "0.02", "-f", "json")
    assert code == 0, out
    payload = json.loads(out)
    assert payload["units_per_variant"] == sample_size(0.10, 0.02) == 3835
    assert payload["duration_days"] is None
    args = ["--baseline", "0.3", "--mde", "0.1", "--relative", "--variants", "3"]
    args += ["-w", str(ws.folder), "--stage", "lead", "-f", "json"]
    code, out, _ = run("experiment", "plan", *args)
    payload = json.loads(out)
    n = sample_size(0.3, 0.1, True, variants=3)
    assert payload["units_per_variant"] == n and payload["total_units"] == 3 * n
    assert payload["duration_days"] == math.ceil(3 * n / payload["units_per_day"])


def test_report_section_reads_the_verdict(demo: tuple[Workspace, dict]) -> None:
    """The report section has a forest plot, a row per variant and a reading with the verdict."""
    ws, _ = demo
    section = experiments_section(ws)
    assert section is not None
    assert len(section.charts) == 1 and len(section.rows) == 2
    assert str(section.rows[0]["verdict"]) in section.reading
    assert EXPERIMENT in section.reading


# --- counts kept elsewhere ----------------------------------------------------------------------


def test_counts_conversion_file(tmp_path: Path) -> None:
    """--counts with conversions: statsmodels' z-test p-value, and the control named control."""
    path = write(tmp_path / "c.csv", "variant,units,conversions\nb,1100,140\ncontrol,1000,100\n")
    code, out, _ = run("experiment", "analyze", "--counts", str(path), "-f", "json")
    assert code == 0, out
    payload = json.loads(out)
    assert payload["experiment"] == "c"
    b = next(v for v in payload["variants"] if v["variant"] == "b")
    assert b["p_value"] == pytest.approx(proportions_ztest([140, 100], [1100, 1000])[1])


def test_counts_value_file_matches_scipy(tmp_path: Path) -> None:
    """--counts with values: sums of raw data give scipy's Welch p-value; weights drive the SRM."""
    rng = np.random.default_rng(9)
    a, b = rng.exponential(100, 900), rng.exponential(115, 95)
    rows = [("a", a, 0.9), ("b", b, 0.1)]
    text = "variant,units,sum,sum_squares,weight\n" + "".join(
        f"{name},{len(x)},{float(x.sum())!r},{float((x**2).sum())!r},{w}\n" for name, x, w in rows
    )
    path = write(tmp_path / "v.csv", text)
    args = ["--counts", str(path), "--metric", "value", "--control", "a", "-f", "json"]
    code, out, _ = run("experiment", "analyze", *args)
    assert code == 0, out
    payload = json.loads(out)
    assert payload["variants"][1]["p_value"] == pytest.approx(
        sps.ttest_ind(b, a, equal_var=False).pvalue, rel=1e-6
    )
    assert payload["srm_p_value"] == pytest.approx(sps.chisquare([900, 95], [895.5, 99.5]).pvalue)
    assert payload["variants"][1]["conversions"] is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("variant,units\na,10\nb,10\n", "missing conversions"),
        ("variant,units,conversions,colour\na,10,1,red\nb,10,2,blue\n", "unknown colour"),
        ("variant,units,conversions\na,10,1\nb,ten,2\n", ":3:units: expected a whole number"),
        ("variant,units,conversions\na,10,1\nb,10,12\n", ":3:conversions: 12 conversions exceed"),
        ("variant,units,conversions\na,10,1\na,10,2\n", ":3:variant: variant 'a' appears twice"),
        ("variant,units,conversions\na,-4,1\nb,10,2\n", ":2:units: expected a whole number"),
        ("variant,units,conversions\na,10,1\n", "at least two rows"),
        ("variant,units,conversions,weight\na,10,1,0\nb,10,2,1\n", ":2:weight: expected a share"),
    ],
)
def test_bad_counts_files_name_row_and_column(tmp_path: Path, text: str, expected: str) -> None:
    """A bad counts file is a user error naming the file, the line and the column."""
    path = write(tmp_path / "bad.csv", text)
    code, _, exc = run("experiment", "analyze", "--counts", str(path), "--control", "a")
    assert code != 0 and isinstance(exc, MissionlineError)
    assert expected in exc.render()


def test_bad_value_counts_and_missing_file(tmp_path: Path) -> None:
    """Sums of squares below sum^2 / units are refused; a missing file is named."""
    path = write(tmp_path / "v.csv", "variant,units,sum,sum_squares\na,10,100,500\nb,10,100,2000\n")
    _, _, exc = run("experiment", "analyze", "--counts", str(path), "--metric", "value")
    assert isinstance(exc, MissionlineError) and ":2:sum_squares:" in exc.render()
    _, _, exc = run("experiment", "analyze", "--counts", str(tmp_path / "none.csv"))
    assert isinstance(exc, MissionlineError) and "no such file" in exc.render()


@pytest.mark.parametrize(
    "args",
    [
        ["experiment", "analyze"],
        ["experiment", "analyze", EXPERIMENT, "--counts", "x.csv"],
        ["experiment", "analyze", EXPERIMENT, "--control", "b"],
        ["experiment", "analyze", "--counts", "x.csv", "--metric", "revenue"],
        ["experiment", "plan", "--baseline", "0.1", "--mde", "0.02", "--stage", "lead"],
        ["experiment", "plan", "--baseline", "0.95", "--mde", "0.1"],
    ],
)
def test_conflicting_or_impossible_options_are_refused(args: list[str]) -> None:
    """Options that contradict each other, or a target rate above 1, are user errors."""
    code, _, exc = run(*args)
    assert code != 0 and isinstance(exc, MissionlineError)
