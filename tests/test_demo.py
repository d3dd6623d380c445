"""The demo company end to end: the metrics recover the generator's true parameters."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest

from missionline.cli.main import main
from missionline.demo.generator import generate_company, write_company
from missionline.workspace import Workspace

STEPS = [
    ("lead", "mql"),
    ("mql", "sal"),
    ("sal", "sql"),
    ("sql", "opportunity"),
    ("opportunity", "won"),
]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, dict]:
    """A 60,000-lead demo company imported into a workspace, with its truth."""
    folder = tmp_path_factory.mktemp("demo")
    company = generate_company(leads=60_000, seed=11)
    write_company(company, folder / "data")
    ws = Workspace.init(folder / "ws", "demo")
    ws.import_files([folder / "data"])
    yield ws, company.truth  # type: ignore[misc]
    ws.close()


def test_demo_plan_stages_match_generated_events(demo: tuple[Workspace, dict]) -> None:
    """Every generated stage id is a stage of the demo plan, and every path stage is used."""
    ws, _ = demo
    stages = set(ws.table("stage_events")["stage"])
    assert stages <= set(ws.plan.stage_ids())
    assert {s.id for s in ws.plan.lifecycle.path()} <= stages


@pytest.mark.parametrize(("source", "target"), STEPS)
def test_conversion_by_segment_recovers_truth(
    demo: tuple[Workspace, dict], source: str, target: str
) -> None:
    """Cohort conversion per segment is within 4 standard errors of the true probability.

    Only cohorts that entered a year or more before the data end are compared (later ones are
    still in flight), and lead->mql leaves out the experiment's quarter (its treatment lifts it).
    """
    ws, truth = demo
    end = date.fromisoformat(truth["end"])
    cells = truth["conversion"][f"{source}->{target}"]["by_segment_channel"]
    frame = ws.funnel(by=["segment", "channel", "kind"], period="quarter")
    rows = frame[(frame["stage"] == source) & frame["segment"].notna() & frame["channel"].notna()]
    rows = rows[[p + timedelta(days=92) <= end - timedelta(days=365) for p in rows["period"]]]
    if source == "lead":
        window = date.fromisoformat(truth["experiment"]["window_start"])
        rows = rows[rows["period"] != window]
    if source == "opportunity":
        rows = rows[rows["kind"] == "new"]
    rows = rows.assign(
        p=[cells[s][c] for s, c in zip(rows["segment"], rows["channel"], strict=True)]
    )
    rows = rows.assign(converted=rows["entries"] * rows["conversion_to_next"].fillna(0))
    for segment, group in rows.groupby("segment"):
        n, p = group["entries"].to_numpy(), group["p"].to_numpy()
        expected, observed = float((n * p).sum()), float(group["converted"].sum())
        z = (observed - expected) / np.sqrt((n * p * (1 - p)).sum())
        assert n.sum() > 100, segment
        assert abs(z) < 4, (segment, observed, expected, z)


def test_experiment_lift_is_visible_in_the_funnel(demo: tuple[Workspace, dict]) -> None:
    """Treatment people convert lead->mql about 3 points better than control."""
    ws, truth = demo
    assignments = ws.table("assignments")
    events = ws.table("stage_events")
    mql = set(events.loc[events["stage"] == "mql", "record_id"])
    assignments = assignments.assign(converted=assignments["unit_id"].isin(mql))
    rates = assignments.groupby("variant")["converted"].agg(["mean", "count"])
    lift = rates.loc["treatment", "mean"] - rates.loc["control", "mean"]
    se = np.sqrt(sum(r["mean"] * (1 - r["mean"]) / r["count"] for _, r in rates.iterrows()))
    assert abs(lift - truth["experiment"]["true_lift"]) < 4 * se


def test_demo_command_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`missionline demo` builds the workspace, prints the funnel and writes the report."""
    folder = tmp_path / "demo"
    assert main(["demo", "-w", str(folder), "--leads", "3000"]) == 0
    out = capsys.readouterr().out
    assert "Northwind Microcontrollers: funnel" in out
    assert (folder / "report.html").stat().st_size > 1_000_000  # Plotly inlined
    truth = json.loads((folder / "truth.json").read_text())
    assert truth["leads"] == 3000
    # running it again is idempotent: nothing new is inserted
    assert main(["demo", "-w", str(folder), "--leads", "3000"]) == 0
    assert "0 inserted, 0 updated" in capsys.readouterr().out


def test_generate_command_writes_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`missionline generate --format csv` writes canonical CSVs that import cleanly."""
    folder = tmp_path / "w"
    assert main(["init", "-w", str(folder), "--from", "demo"]) == 0
    assert main(["generate", "-w", str(folder), "--leads", "500", "--seed", "3", "-f", "csv"]) == 0
    assert (folder / "truth.json").is_file()
    assert main(["import", "-w", str(folder), str(folder / "data")]) == 0
    out = capsys.readouterr().out
    assert "stage_events" in out


def test_demo_with_another_seed_replaces_the_company(tmp_path: Path) -> None:
    """Running the demo again with another size replaces the data instead of merging two."""
    folder = tmp_path / "demo"
    assert main(["demo", "-w", str(folder), "--leads", "600", "--seed", "1"]) == 0
    assert main(["demo", "-w", str(folder), "--leads", "400", "--seed", "2"]) == 0
    with Workspace.open(folder) as ws:
        assert len(ws.table("people")) == 400
