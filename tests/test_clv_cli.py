"""The ``clv fit`` and ``clv predict`` commands: the JSON contract, the inputs and the errors."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from missionline.cli.clv import register_clv_commands
from missionline.errors import MissionlineError
from missionline.workspace import Workspace

from conftest import load_fixture, write

PREDICTION_COLUMNS = [
    "customer_id",
    "frequency",
    "recency",
    "T",
    "expected_purchases",
    "p_alive",
    "expected_spend",
    "clv",
]


def run(*args: str) -> tuple[int, str, BaseException | None]:
    """Run the clv commands on a local app; return the exit code, standard output, exception."""
    app = typer.Typer()
    register_clv_commands(app)
    app.command("noop")(lambda: None)  # a second command keeps "clv" a group
    result = CliRunner().invoke(app, ["clv", *args])
    return result.exit_code, result.stdout, result.exception


def run_json(*args: str) -> object:
    """Run a command with ``--format json`` and return the parsed output."""
    code, out, error = run(*args, "--format", "json")
    assert code == 0 and error is None, (out, error)
    return json.loads(out)


def problem(*args: str) -> str:
    """Run a command that must fail on the user's input; return the error as printed."""
    code, _, error = run(*args)
    assert code != 0 and isinstance(error, MissionlineError), error
    return error.render()


@pytest.fixture(scope="module")
def files(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """CDNOW as CSV files: the calibration summary and the transaction log."""
    folder = tmp_path_factory.mktemp("cdnow")
    source = shared_data / "cdnow"
    summary = pd.read_csv(source / "cdnow_customers_summary_with_transactions.csv")
    summary.columns = ["customer_id", "frequency", "recency", "T", "monetary_value"]
    summary.to_csv(folder / "summary.csv", index=False)
    names = ["id", "customer", "date", "cds", "dollars"]
    log = pd.read_csv(source / "CDNOW_sample.txt", sep=r"\s+", header=None, names=names)
    log[["customer", "date", "dollars"]].to_csv(folder / "log.csv", index=False)
    return {"summary": folder / "summary.csv", "log": folder / "log.csv"}


def log_options(files: dict[str, Path]) -> list[str]:
    """The options that read the CDNOW log with a 39-week calibration."""
    return [
        "--transactions", str(files["log"]), "--customer-col", "customer",
        "--date-col", "date", "--calibration-end", "1997-09-30",
    ]  # fmt: skip


def test_fit_prints_the_json_contract(files: dict[str, Path]) -> None:
    """``clv fit --format json`` prints model, params, std_errors, log_likelihood, n, converged."""
    result = run_json("fit", "--model", "bgnbd", "--summary", str(files["summary"]))
    assert isinstance(result, dict)
    assert list(result) == [
        "model", "params", "std_errors", "log_likelihood", "n_customers", "converged",
    ]  # fmt: skip
    assert result["model"] == "bgnbd" and result["n_customers"] == 2357 and result["converged"]
    assert {k: round(v, 3) for k, v in result["params"].items()} == {
        "r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426,
    }  # fmt: skip
    assert list(result["std_errors"]) == ["r", "alpha", "a", "b"]
    assert round(result["log_likelihood"], 1) == -9582.4


def test_fit_on_a_log_compares_the_holdout(files: dict[str, Path], tmp_path: Path) -> None:
    """With ``--holdout-end`` the JSON adds the holdout comparison and ``--plot`` writes it."""
    plot = tmp_path / "holdout.html"
    result = run_json(
        "fit", "--model", "pareto_nbd", *log_options(files),
        "--holdout-end", "1998-06-30", "--plot", str(plot),
    )  # fmt: skip
    assert isinstance(result, dict)
    assert {k: round(v, 2) for k, v in result["params"].items()} == {
        "r": 0.55, "alpha": 10.58, "s": 0.61, "beta": 11.67,
    }  # fmt: skip
    holdout = result["holdout"]
    assert holdout["actual_total"] == 1882 and holdout["duration"] == 39
    assert abs(holdout["predicted_total"] / 1882 - 1) < 0.15
    assert [row["calibration_repeat_purchases"] for row in holdout["by_frequency"]][-1] == "7+"
    assert "plotly" in plot.read_text(encoding="utf-8")
    code, out, _ = run("fit", *log_options(files), "--holdout-end", "1998-06-30")
    assert code == 0 and "holdout total: actual 1,882" in out


def test_fit_spend_and_retention_models(files: dict[str, Path], tmp_path: Path) -> None:
    """gamma_gamma reads the amounts of the log; sbg reads a survival file."""
    result = run_json(
        "fit", "--model", "gamma_gamma", *log_options(files), "--amount-col", "dollars"
    )
    assert isinstance(result, dict) and result["n_customers"] == 946
    assert {k: round(v, 2) for k, v in result["params"].items()} == {
        "p": 6.25, "q": 3.74, "gamma": 15.44,
    }  # fmt: skip
    survival = write(
        tmp_path / "regular.csv",
        "period,alive\n0,1000\n1,631\n2,468\n3,382\n4,326\n5,289\n6,262\n7,241\n",
    )
    result = run_json("fit", "--model", "sbg", "--survival", str(survival))
    assert isinstance(result, dict)
    assert {k: round(v, 3) for k, v in result["params"].items()} == {"alpha": 0.704, "beta": 1.182}
    code, out, _ = run("fit", "--model", "sbg", "--survival", str(survival))
    assert code == 0 and "alpha" in out and "converged" in out


REVENUE = """
account_id,at,amount,kind
a1,2024-01-10,1000,new
a1,2024-02-10,300,purchase
a1,2024-03-10,100,purchase
a1,2025-01-10,900,renewal
a2,2024-02-01,500,new
a2,2024-05-01,200,purchase
a2,2025-02-01,-500,churn
a3,2024-06-15,70,purchase
"""


def test_fit_and_predict_read_the_workspace(workspace: Workspace, tmp_path: Path) -> None:
    """Without a file the commands summarise the workspace's revenue per account."""
    load_fixture(workspace, tmp_path / "base")
    write(tmp_path / "rev" / "revenue.csv", REVENUE)
    workspace.import_files([tmp_path / "rev"])
    folder = str(workspace.folder)
    result = run_json("fit", "-w", folder, "--time-unit", "D")
    assert isinstance(result, dict) and result["n_customers"] == 3
    rows = run_json("predict", "-w", folder, "--horizon", "30", "--spend-model", "gamma_gamma")
    assert isinstance(rows, list) and [r["customer_id"] for r in rows] == ["a1", "a2", "a3"]
    assert list(rows[0]) == PREDICTION_COLUMNS
    result = run_json("fit", "-w", folder, "--model", "sbg")
    assert isinstance(result, dict) and result["n_customers"] == 2


def test_predict_writes_one_row_per_customer(files: dict[str, Path], tmp_path: Path) -> None:
    """``clv predict --out`` writes the predictions; without it they are printed."""
    out = tmp_path / "clv.csv"
    code, _, error = run(
        "predict", "--summary", str(files["summary"]), "--horizon", "39",
        "--spend-model", "gamma_gamma", "--discount-rate", "0.1", "--margin", "0.3",
        "--out", str(out),
    )  # fmt: skip
    assert code == 0 and error is None
    frame = pd.read_csv(out)
    assert list(frame.columns) == PREDICTION_COLUMNS and len(frame) == 2357
    assert frame["clv"].gt(0).all() and frame["p_alive"].between(0, 1).all()
    rows = run_json("predict", *log_options(files), "--time-unit", "D", "--horizon", "273")
    assert isinstance(rows, list) and rows[0]["customer_id"] == "1"
    assert rows[0]["T"] == 272 and rows[0]["clv"] is None
    code, printed, _ = run("predict", "--summary", str(files["summary"]), "--format", "csv")
    assert code == 0 and printed.splitlines()[0] == ",".join(PREDICTION_COLUMNS)


BAD_SUMMARIES = [
    ("customer_id,frequency,recency\n1,0,0\n", "missing column T"),
    ("customer_id,frequency,recency,T\n1,0,0,30\n2,x,0,30\n", ":3:frequency: not a number"),
    ("customer_id,frequency,recency,T\n1,2,40,30\n", ":2:recency: recency is greater than T"),
    ("customer_id,frequency,recency,T\n1,-1,0,30\n", ":2:frequency: expected a whole number"),
    ("customer_id,frequency,recency,T\n1,0,0,30\n1,1,2,30\n", ":3:customer_id: customer 1"),
]


@pytest.mark.parametrize(("text", "expected"), BAD_SUMMARIES)
def test_bad_summary_files_name_line_and_column(tmp_path: Path, text: str, expected: str) -> None:
    """A bad summary file is refused with its name, the line and the column to fix."""
    path = write(tmp_path / "bad.csv", text)
    message = problem("fit", "--summary", str(path))
    assert str(path) in message and expected in message


def test_bad_transactions_name_line_and_column(tmp_path: Path) -> None:
    """A date that cannot be read is reported with the file, its line and the column."""
    path = write(tmp_path / "log.csv", "who,day\na,2024-01-01\nb,01/31/2024\n")
    message = problem(
        "fit", "--transactions", str(path), "--customer-col", "who", "--date-col", "day",
        "--calibration-end", "2024-02-01",
    )  # fmt: skip
    assert f"{path}:3:day: '01/31/2024' is not a date" in message
    message = problem(
        "fit", "--transactions", str(path), "--customer-col", "customer", "--date-col", "day",
        "--calibration-end", "2024-02-01",
    )  # fmt: skip
    assert "missing column customer" in message


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["fit", "--survival", "s.csv"], "add --model sbg"),
        (["fit", "--summary", "a.csv", "--transactions", "b.csv"], "choose one of"),
        (["fit", "--customer-col", "c"], "--customer-col need --transactions"),
        (
            ["fit", "--transactions", "b.csv", "--customer-col", "c"],
            "--date-col, --calibration-end",
        ),
        (["fit", "--plot", "p.html"], "add --holdout-end"),
        (["fit", "--model", "gamma_gamma", "--holdout-end", "2024-01-01"], "bgnbd and pareto_nbd"),
        (["fit", "--summary", "nope.csv"], "no such summary file"),
        (["predict", "--horizon", "0", "--summary", "nope.csv"], "no such summary file"),
    ],
)
def test_options_that_do_not_go_together_are_refused(args: list[str], expected: str) -> None:
    """Contradictory or incomplete options are refused with a message saying what to change."""
    assert expected in problem(*args)
