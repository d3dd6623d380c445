"""The alignment questionnaire: instrument, answers, anonymity, gap, reliability, CLI, report."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
from scipy import stats
from typer.testing import CliRunner

from missionline.alignment.survey import (
    MIN_GROUP,
    cronbach_alpha,
    default_instrument,
    instrument,
    record_response,
    survey_answers,
    survey_gap,
    survey_results,
    welch,
)
from missionline.cli.alignment import register_alignment_commands
from missionline.demo.generator import generate_company, write_company
from missionline.errors import MissionlineError
from missionline.report.alignment_section import survey_section
from missionline.workspace import Workspace

from conftest import write

RESPONSES = """
response_id,respondent,function,question_id,score,at
{rows}
"""
# marketing: m1..m4, sales: s1..s3, customer_success: c1, c2 (too few to be shown).
SCORES: dict[str, tuple[str, list[int | None]]] = {
    "m1": ("marketing", [5, 4, 4]),
    "m2": ("marketing", [4, 4, 5]),
    "m3": ("marketing", [3, 5, 4]),
    "m4": ("marketing", [4, 3, None]),  # skipped q03: marketing's q03 has 3 answers
    "s1": ("sales", [2, 3, 3]),
    "s2": ("sales", [3, 2, 2]),
    "s3": ("sales", [2, 3, None]),  # skipped q03: sales' q03 has 2 answers, not shown
    "c1": ("customer_success", [1, 1, 1]),
    "c2": ("customer_success", [5, 5, 5]),
}
# The answers that may be shown: customer_success and sales' q03 are below three respondents.
SHOWN: dict[str, tuple[str, list[int | None]]] = {
    "m1": ("marketing", [5, 4, 4]),
    "m2": ("marketing", [4, 4, 5]),
    "m3": ("marketing", [3, 5, 4]),
    "m4": ("marketing", [4, 3, None]),
    "s1": ("sales", [2, 3, None]),
    "s2": ("sales", [3, 2, None]),
    "s3": ("sales", [2, 3, None]),
}
PLAN = """
version: 1
company: Survey Co
functions:
  - {id: marketing, name: Marketing}
  - {id: sales, name: Sales}
  - {id: customer_success, name: Customer success}
lifecycle:
  stages:
    - {id: lead, name: Lead, owner: marketing, terminal: true}
alignment:
  survey:
    - {id: q01, pillar: message, text: We tell one story.}
    - {id: q02, pillar: process, text: We know when a lead is ready.}
    - {id: q03, pillar: mission, text: We know the top customers.}
"""


def response_rows() -> list[tuple[str, str, str, str, int, str]]:
    """The fixture's responses, plus an earlier answer by m1 that a later one replaces."""
    rows = [("r0", "m1", "sales", "q01", 1, "2025-01-01 09:00:00")]  # m1's old answer
    for respondent, (function, scores) in SCORES.items():
        for k, score in enumerate(scores, start=1):
            if score is not None:
                rid = f"r{len(rows)}"
                rows.append((rid, respondent, function, f"q0{k}", score, "2025-02-01 10:00:00"))
    rows.append(("r99", "x1", "marketing", "q99", 5, "2025-02-01 10:00:00"))  # unknown id
    return rows


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    """A workspace with a three-statement questionnaire and nine respondents."""
    folder = tmp_path_factory.mktemp("survey")
    write(folder / "plan.yaml", PLAN)
    ws = Workspace.init(folder / "ws", str(folder / "plan.yaml"))
    lines = "\n".join(",".join(map(str, r)) for r in response_rows())
    write(folder / "files" / "survey_responses.csv", RESPONSES.format(rows=lines))
    ws.import_files([folder / "files"])
    yield ws
    ws.close()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workspace, dict]]:
    """A small demo company (the questionnaire does not depend on the number of leads)."""
    folder = tmp_path_factory.mktemp("survey_demo")
    company = generate_company(leads=1_500, seed=5)
    write_company(company, folder / "data")
    ws = Workspace.init(folder / "ws", "demo")
    ws.import_files([folder / "data"])
    yield ws, company.truth
    ws.close()


def reference_means(shown: dict[str, tuple[str, list[int | None]]]) -> dict[str, float]:
    """Plain-Python function means over respondents' mean scores."""
    out: dict[str, list[float]] = {}
    for function, scores in shown.values():
        answered = [s for s in scores if s is not None]
        out.setdefault(function, []).append(sum(answered) / len(answered))
    return {f: sum(v) / len(v) for f, v in out.items()}


def test_default_instrument_has_stable_ids_and_five_pillars() -> None:
    """The packaged instrument: 20 statements q01..q20, four per pillar."""
    statements = default_instrument()
    assert [s.id for s in statements] == [f"q{k:02d}" for k in range(1, 21)]
    pillars = pd.Series([s.pillar for s in statements]).value_counts()
    assert pillars.to_dict() == {
        p: 4 for p in ("message", "process", "measurement", "testing", "mission")
    }


def test_plan_replaces_the_instrument(small: Workspace) -> None:
    """A plan's alignment.survey replaces the default statements."""
    assert [s.id for s in instrument(small.plan)] == ["q01", "q02", "q03"]


def test_latest_answer_counts_and_sets_the_function(small: Workspace) -> None:
    """m1's later answers replace the earlier one, and m1 belongs to marketing, not sales."""
    answers = survey_answers(small.tables(), small.plan)
    m1 = answers[answers["respondent"] == "m1"].set_index("statement")
    assert m1.loc["q01", "score"] == 5
    assert set(m1["function"]) == {"marketing"}
    assert "q99" not in set(answers["statement"])


def test_anonymity_suppresses_small_groups(small: Workspace) -> None:
    """customer_success (2 respondents) shows only its head count and is left out of 'all'."""
    frame = survey_results(small.tables(), small.schema, small.plan, "function").set_index(
        "function"
    )
    assert frame.loc["customer_success", "respondents"] == 2 < MIN_GROUP
    assert bool(frame.loc["customer_success", "suppressed"])
    assert pd.isna(frame.loc["customer_success", "mean"])
    assert pd.isna(frame.loc["customer_success", "share_1"])
    # sales' q03 has two answers: they are left out too.
    expected = reference_means(SHOWN)
    assert frame.loc["marketing", "mean"] == pytest.approx(expected["marketing"])
    assert frame.loc["sales", "mean"] == pytest.approx(expected["sales"])
    everyone = [np.mean([x for x in v if x is not None]) for _, v in SHOWN.values()]
    assert frame.loc["all", "mean"] == pytest.approx(sum(everyone) / len(everyone))
    assert frame.loc["all", "respondents"] == 7


def test_statement_rows_match_a_plain_reference(small: Workspace) -> None:
    """Per statement: counted answers, mean, distribution and the marketing - sales gap."""
    frame = survey_results(small.tables(), small.schema, small.plan, "statement").set_index(
        "statement"
    )
    q01 = [5, 4, 3, 4, 2, 3, 2]  # marketing m1..m4, sales s1..s3 (customer_success hidden)
    assert frame.loc["q01", "respondents"] == 7
    assert frame.loc["q01", "mean"] == pytest.approx(np.mean(q01))
    assert frame.loc["q01", "share_4"] == pytest.approx(2 / 7)
    assert frame.loc["q01", "gap"] == pytest.approx(np.mean(q01[:4]) - np.mean(q01[4:]))
    # q03: only marketing's three answers count; no gap without sales.
    assert frame.loc["q03", "respondents"] == 3
    assert pd.isna(frame.loc["q03", "sales_mean"]) and pd.isna(frame.loc["q03", "gap"])


def test_cronbach_alpha_hand_worked_example() -> None:
    """Four respondents, three items: item variances 5/3, 11/12, 4/3, total 131/12 -> 126/131."""
    items = pd.DataFrame({"a": [1, 2, 3, 4], "b": [2, 3, 4, 4], "c": [3, 3, 5, 5]})
    assert cronbach_alpha(items) == pytest.approx(126 / 131, rel=1e-12)


def test_cronbach_alpha_matches_the_covariance_formula() -> None:
    """Alpha equals k * mean covariance / (mean variance + (k - 1) * mean covariance)."""
    rng = np.random.default_rng(3)
    latent = rng.normal(size=(50, 1))
    items = pd.DataFrame(np.round(3 + latent + rng.normal(scale=0.8, size=(50, 6))))
    cov = items.cov().to_numpy()
    k = cov.shape[0]
    mean_var = np.trace(cov) / k
    mean_cov = (cov.sum() - np.trace(cov)) / (k * (k - 1))
    assert cronbach_alpha(items) == pytest.approx(k * mean_cov / (mean_var + (k - 1) * mean_cov))


def test_cronbach_alpha_matches_pingouin() -> None:
    """On pingouin's psych-validated data set, listwise deletion: 0.8016949152542373."""
    pg = pytest.importorskip("pingouin")
    data = pg.read_dataset("cronbach_wide_missing")
    assert cronbach_alpha(data) == pytest.approx(0.8016949152542373, rel=1e-12)
    assert cronbach_alpha(data) == pytest.approx(pg.cronbach_alpha(data, nan_policy="listwise")[0])


def test_cronbach_alpha_undefined_cases() -> None:
    """One item, one complete respondent or no spread in the totals give no alpha."""
    assert cronbach_alpha(pd.DataFrame({"a": [1, 2, 3]})) is None
    assert cronbach_alpha(pd.DataFrame({"a": [1, None], "b": [2, 3]})) is None
    assert cronbach_alpha(pd.DataFrame({"a": [1, 2], "b": [2, 1]})) is None


def test_welch_matches_scipy() -> None:
    """The Welch interval and p-value agree with scipy's unequal-variance t-test."""
    rng = np.random.default_rng(1)
    a, b = rng.normal(3.5, 0.5, 18), rng.normal(3.2, 0.9, 11)
    ours = welch(a, b)
    test = stats.ttest_ind(a, b, equal_var=False)
    low, high = test.confidence_interval(0.95)
    assert ours is not None
    assert (ours.ci_low, ours.ci_high) == pytest.approx((low, high))
    assert ours.p_value == pytest.approx(test.pvalue)
    assert ours.df == pytest.approx(test.df)
    assert welch([1.0], [2.0, 3.0]) is None
    exact = welch([2.0, 2.0], [1.0, 1.0])
    assert exact is not None and (exact.gap, exact.ci_low, exact.df) == (1.0, 1.0, None)


def test_demo_gap_is_recovered_within_its_interval(demo: tuple[Workspace, dict]) -> None:
    """The demo's marketing - sales gap: 0.8 on the gap statements, 0 elsewhere, within the CIs."""
    ws, truth = demo
    survey = truth["survey"]
    gap_ids = survey["gap_questions"]
    other = [s.id for s in instrument(ws.plan) if s.id not in gap_ids]
    on_gap = survey_gap(ws.tables(), ws.schema, ws.plan, statements=gap_ids).iloc[0]
    off_gap = survey_gap(ws.tables(), ws.schema, ws.plan, statements=other).iloc[0]
    overall = survey_gap(ws.tables(), ws.schema, ws.plan).iloc[0]
    assert on_gap["ci_low"] <= survey["gap"] <= on_gap["ci_high"]
    assert on_gap["ci_low"] > 0  # the gap is detected, not only covered
    assert off_gap["ci_low"] <= 0 <= off_gap["ci_high"]
    share = len(gap_ids) / (len(gap_ids) + len(other))
    assert overall["ci_low"] <= survey["gap"] * share <= overall["ci_high"]
    assert (on_gap["respondents_a"], on_gap["respondents_b"]) == (18, 18)


def test_demo_waves_by_period(demo: tuple[Workspace, dict]) -> None:
    """With --period quarter, each wave is its own period with all 40 respondents."""
    ws, _ = demo
    frame = survey_results(ws.tables(), ws.schema, ws.plan, "function", period="quarter")
    everyone = frame[frame["function"] == "all"]
    assert len(everyone) == 2 and set(everyone["respondents"]) == {40}
    assert everyone["alpha"].between(0.5, 1).all()


def test_record_response_stores_answers(tmp_path: Path) -> None:
    """The web form's call stores one row per answer; mistakes store nothing."""
    ws = Workspace.init(tmp_path / "ws", "demo")
    try:
        n = record_response(ws, "web_1", "sales", {"q01": 4, "q02": 2})
        assert n == 2
        with pytest.raises(MissionlineError, match="unknown statement 'q77'"):
            record_response(ws, "web_2", "sales", {"q01": 4, "q77": 2})
        with pytest.raises(MissionlineError, match="score 6"):
            record_response(ws, "web_2", "sales", {"q01": 6})
        with pytest.raises(MissionlineError, match="unknown function"):
            record_response(ws, "web_2", "finance", {"q01": 3})
        with pytest.raises(MissionlineError, match="respondent"):
            record_response(ws, " ", "sales", {"q01": 3})
        stored = ws.table("survey_responses")
        assert sorted(stored["question_id"]) == ["q01", "q02"]
        assert set(stored["respondent"]) == {"web_1"}
    finally:
        ws.close()


def cli() -> typer.Typer:
    """A local app with the alignment commands."""
    app = typer.Typer()

    @app.command()
    def version() -> None:
        """Keep the app a command group."""

    register_alignment_commands(app)
    return app


def test_survey_command_json_contract(small: Workspace) -> None:
    """`survey -f json` prints period, compare, gap and rows; --by statement adds the gaps."""
    result = CliRunner().invoke(cli(), ["survey", "-w", str(small.folder), "-f", "json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert set(payload) == {"period", "compare", "gap", "rows"}
    assert payload["compare"] == ["marketing", "sales"]
    assert [r["function"] for r in payload["rows"]] == [
        "marketing",
        "sales",
        "customer_success",
        "all",
    ]
    result = CliRunner().invoke(
        cli(), ["survey", "-w", str(small.folder), "--by", "statement", "-f", "json"]
    )
    rows = json.loads(result.stdout)["rows"]
    assert {"marketing_mean", "sales_mean", "gap", "ci_low", "ci_high"} <= set(rows[0])


def test_survey_command_by_period_and_instrument(demo: tuple[Workspace, dict]) -> None:
    """With --period, one JSON object per wave; `survey instrument` lists the statements."""
    ws, _ = demo
    args = ["survey", "-w", str(ws.folder), "--period", "quarter", "-f", "json"]
    result = CliRunner().invoke(cli(), args)
    assert result.exit_code == 0, result.output
    waves = json.loads(result.stdout)
    assert len(waves) == 2 and all(w["gap"]["respondents_a"] == 18 for w in waves)
    result = CliRunner().invoke(cli(), ["survey", "instrument", "-w", str(ws.folder), "-f", "csv"])
    assert result.exit_code == 0 and result.stdout.count("\n") == 21


def test_survey_command_rejects_unknown_by(small: Workspace) -> None:
    """An unknown --by is a user mistake (MissionlineError), not a crash."""
    result = CliRunner().invoke(cli(), ["survey", "-w", str(small.folder), "--by", "team"])
    assert isinstance(result.exception, MissionlineError)


def test_survey_section(demo: tuple[Workspace, dict]) -> None:
    """The report section has the gap chart and a reading naming the gap and its interval."""
    ws, _ = demo
    section = survey_section(ws)
    assert section is not None and len(section.charts) == 1
    assert "marketing rates alignment" in section.reading and "95% interval" in section.reading
    assert len(section.rows) == 20
