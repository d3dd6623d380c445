"""The initiative register on the demo company: reused numbers, statuses, the CLI and the report."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner, Result

from missionline.cli.initiatives import register_initiative_commands
from missionline.demo.generator import generate_company, write_company
from missionline.errors import MissionlineError
from missionline.models.attribution import attribute, initiative_roi, workspace_paths
from missionline.models.experiments import analyze_experiment
from missionline.models.initiatives import (
    REGISTER_COLUMNS,
    initiative_register,
    initiative_status,
)
from missionline.plan.models import Initiative
from missionline.report.initiatives_section import initiatives_reading, initiatives_section
from missionline.workspace import Workspace, spend_by_initiative


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workspace, dict[str, Any]]]:
    """A 12,000-lead demo company imported into a workspace, with its truth."""
    folder = tmp_path_factory.mktemp("demo")
    company = generate_company(leads=12_000, seed=17)
    write_company(company, folder / "data")
    ws = Workspace.init(folder / "ws", "demo")
    ws.import_files([folder / "data"])
    yield ws, company.truth
    ws.close()


@pytest.fixture(scope="module")
def register(demo: tuple[Workspace, dict[str, Any]]) -> pd.DataFrame:
    """The demo's register under the default (Markov) model."""
    ws, _ = demo
    return initiative_register(ws.tables(), ws.schema, ws.plan)


def cli(*args: str) -> Result:
    """Run ``missionline initiatives ARGS`` on an app holding only this command."""
    app = typer.Typer()

    @app.callback()
    def group() -> None:
        """Keep ``initiatives`` a sub-command, as in the real app."""

    register_initiative_commands(app)
    return CliRunner().invoke(app, ["initiatives", *args])


def test_rows_follow_the_plan(
    demo: tuple[Workspace, dict[str, Any]], register: pd.DataFrame
) -> None:
    """One row per plan initiative in plan order, with the plan's fields and every column."""
    ws, _ = demo
    assert list(register.columns) == REGISTER_COLUMNS
    assert list(register["initiative"]) == [i.id for i in ws.plan.initiatives]
    for row, initiative in zip(register.itertuples(), ws.plan.initiatives, strict=True):
        assert (row.name, row.function, row.owner, row.hypothesis) == (
            initiative.name,
            initiative.function,
            initiative.owner,
            initiative.hypothesis,
        )
        assert row.objectives == initiative.supports


def test_success_factors_come_through_the_objectives(
    demo: tuple[Workspace, dict[str, Any]], register: pd.DataFrame
) -> None:
    """Each initiative's success factors are the union of its objectives' supports."""
    ws, _ = demo
    supports = {o.id: set(o.supports) for o in ws.plan.objectives}
    for row in register.itertuples():
        expected = set().union(*(supports[o] for o in row.objectives)) if row.objectives else set()
        assert set(row.success_factors) == expected
        assert len(row.success_factors) == len(set(row.success_factors))


def test_spend_and_budget_use_match_spend_by_initiative(
    demo: tuple[Workspace, dict[str, Any]], register: pd.DataFrame
) -> None:
    """Spend is spend_by_initiative's; budget use and the over-budget flag follow from it."""
    ws, truth = demo
    spend = spend_by_initiative(ws.tables())
    has_spend = {i["id"]: i["has_spend"] for i in truth["initiatives"]}
    for row in register.itertuples():
        assert row.spend == pytest.approx(spend.get(row.initiative, 0.0))
        assert (row.spend > 0) == has_spend[row.initiative]
        assert row.budget_used == pytest.approx(row.spend / row.budget)
        assert row.over_budget == (row.spend > row.budget)


@pytest.mark.parametrize("model", ["markov", "linear"])
def test_attribution_matches_initiative_roi(
    demo: tuple[Workspace, dict[str, Any]], model: str
) -> None:
    """Attributed conversions, revenue and ROI are initiative_roi's under the same model."""
    ws, _ = demo
    tables = ws.tables()
    frame = initiative_register(tables, ws.schema, ws.plan, model).set_index("initiative")
    roi = initiative_roi(tables, ws.schema, ws.plan, model).set_index("initiative")
    for column in ("attributed_conversions", "attributed_revenue", "roi"):
        expected = roi.loc[frame.index, column]
        pd.testing.assert_series_equal(frame[column], expected, check_names=False)


def test_pipeline_is_the_opportunity_credit_share_of_pipeline_created(
    demo: tuple[Workspace, dict[str, Any]], register: pd.DataFrame
) -> None:
    """Attributed pipeline = all opportunities' amounts times the opportunity-level credit share."""
    ws, _ = demo
    created = float(ws.table("opportunities")["amount"].sum())
    paths = workspace_paths(ws.tables(), ws.schema, ws.plan, "opportunity", "initiative")
    credit = attribute(paths, "markov").channels.set_index("channel")["conversions"]
    share = credit / credit.sum()
    for row in register.itertuples():
        assert row.attributed_pipeline == pytest.approx(created * share.get(row.initiative, 0.0))
    assert register["attributed_pipeline"].sum() <= created * (1 + 1e-9)


def test_experiments_and_verdicts_match_analyze_experiment(
    demo: tuple[Workspace, dict[str, Any]], register: pd.DataFrame
) -> None:
    """Each initiative lists the plan's experiments of it, with analyze_experiment's verdicts."""
    ws, truth = demo
    tested = register.set_index("initiative")
    for row in register.itertuples():
        ids = [e.id for e in ws.plan.experiments if e.initiative == row.initiative]
        assert row.experiments == ids
        verdicts = [analyze_experiment(ws.tables(), ws.schema, ws.plan, e).verdict for e in ids]
        assert row.verdicts == verdicts
    assert truth["experiment"]["id"] in tested.loc["ini_content_hub", "experiments"]


def test_as_of_dates_statuses_and_verdicts(demo: tuple[Workspace, dict[str, Any]]) -> None:
    """An earlier as-of dates the statuses and analyses the experiments as of that day."""
    ws, _ = demo
    tables = ws.tables()
    early = initiative_register(tables, ws.schema, ws.plan, as_of="2024-12-15")
    by_id = {i.id: i for i in ws.plan.initiatives}
    for row in early.itertuples():
        assert row.status == initiative_status(by_id[row.initiative], dt.date(2024, 12, 15))
    assert set(early["status"]) == {"planned", "active"}
    verdict = analyze_experiment(tables, ws.schema, ws.plan, "exp_nurture_subject", "2024-12-15")
    row = early.set_index("initiative").loc["ini_content_hub"]
    assert row["verdicts"] == [verdict.verdict]


@pytest.mark.parametrize(
    ("start", "end", "day", "status"),
    [
        (dt.date(2025, 1, 1), dt.date(2025, 3, 31), dt.date(2024, 12, 31), "planned"),
        (dt.date(2025, 1, 1), dt.date(2025, 3, 31), dt.date(2025, 1, 1), "active"),
        (dt.date(2025, 1, 1), dt.date(2025, 3, 31), dt.date(2025, 3, 31), "active"),
        (dt.date(2025, 1, 1), dt.date(2025, 3, 31), dt.date(2025, 4, 1), "ended"),
        (None, dt.date(2025, 3, 31), dt.date(2020, 1, 1), "active"),
        (dt.date(2025, 1, 1), None, dt.date(2030, 1, 1), "active"),
        (None, None, None, None),
    ],
)
def test_status_on_hand_made_dates(
    start: dt.date | None, end: dt.date | None, day: dt.date | None, status: str | None
) -> None:
    """Planned before the start day, ended after the end day, active on both days and between."""
    initiative = Initiative(id="i", name="I", function="marketing", start=start, end=end)
    assert initiative_status(initiative, day) == status


def test_an_initiative_without_budget_spend_or_touches(
    demo: tuple[Workspace, dict[str, Any]],
) -> None:
    """An initiative absent from the data has zero spend and credit, and no budget use or ROI."""
    ws, _ = demo
    ghost = Initiative(id="ini_ghost", name="Ghost", function="sales")
    plan = ws.plan.model_copy(update={"initiatives": [*ws.plan.initiatives, ghost]})
    row = initiative_register(ws.tables(), ws.schema, plan, "last_touch").iloc[-1]
    assert row["initiative"] == "ini_ghost"
    assert (row["spend"], row["attributed_revenue"], row["attributed_pipeline"]) == (0, 0, 0)
    assert pd.isna(row["budget_used"]) and pd.isna(row["roi"]) and pd.isna(row["budget"])
    assert not row["over_budget"]
    assert (row["status"], row["objectives"], row["success_factors"]) == ("active", [], [])


def test_cli_json_is_a_list_of_rows_with_arrays(
    demo: tuple[Workspace, dict[str, Any]], register: pd.DataFrame
) -> None:
    """``--format json`` prints one object per initiative; list cells are JSON arrays."""
    ws, _ = demo
    result = cli("-w", str(ws.folder), "-f", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["initiative"] for r in rows] == list(register["initiative"])
    assert set(rows[0]) == set(REGISTER_COLUMNS)
    content = next(r for r in rows if r["initiative"] == "ini_content_hub")
    assert content["experiments"] == ["exp_nurture_subject"]
    assert isinstance(content["verdicts"], list) and isinstance(content["objectives"], list)


def test_cli_csv_table_model_and_errors(demo: tuple[Workspace, dict[str, Any]]) -> None:
    """CSV joins lists with commas; the table prints; a bad model or date is refused."""
    ws, _ = demo
    folder = str(ws.folder)
    csv = cli("-w", folder, "-f", "csv", "--model", "first_touch", "--as-of", "2025-06-01")
    assert csv.exit_code == 0, csv.output
    header = csv.stdout.splitlines()[0].split(",")
    assert header == REGISTER_COLUMNS
    table = cli("-w", folder)
    assert table.exit_code == 0 and "initiative register (markov)" in table.stdout
    assert cli("-w", folder, "--model", "all").exit_code == 2
    bad = cli("-w", folder, "--as-of", "yesterday")
    assert isinstance(bad.exception, MissionlineError)


def test_report_section_reads_the_register(
    demo: tuple[Workspace, dict[str, Any]], register: pd.DataFrame
) -> None:
    """The section names the best and worst ROI and counts the untested initiatives."""
    ws, _ = demo
    section = initiatives_section(ws)
    assert section is not None and len(section.charts) == 1
    assert [r["initiative"] for r in section.rows] == list(register["initiative"])
    ranked = register.dropna(subset=["roi"]).sort_values("roi")
    assert ranked["initiative"].iloc[-1] in section.reading
    assert ranked["initiative"].iloc[0] in section.reading
    untested = sum(not e for e in register["experiments"])
    assert f"{untested} of {len(register)} initiatives have no experiment" in section.reading


def test_reading_names_initiatives_without_credit_or_spend() -> None:
    """Without any ROI the reading says so, and it names initiatives with no attributed revenue."""
    frame = pd.DataFrame(
        {
            "initiative": ["a", "b"],
            "spend": [0.0, 0.0],
            "roi": [float("nan"), float("nan")],
            "experiments": [["e1"], ["e2"]],
            "attributed_revenue": [10.0, 0.0],
        }
    )
    assert initiatives_reading(frame) == (
        "No spend is booked to a plan initiative, so no initiative has an ROI. "
        "b earned no attributed revenue."
    )
