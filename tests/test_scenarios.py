"""Scenarios and capacity: --set parsing, changed assumptions, side-by-side effects, saving into
the plan with its comments, Little's-law capacity, scarcity flags and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from missionline.cli.cascade import register_cascade_commands
from missionline.errors import MissionlineError
from missionline.plan.loader import load_plan
from missionline.planning.capacity import capacity_check, survival
from missionline.planning.cascade import measure_scopes
from missionline.planning.changes import parse_change
from missionline.planning.scenarios import apply, compare, parse_changes, save_scenario
from missionline.workspace import Workspace, packaged_example
from test_cascade import demo_folder

CHANGES = {
    "sql_up": ["conversion.sql=+0.05"],
    "bigger_computing": ["deal_size.computing=*1.1"],
    "search_cut": ["budget.paid_search=-20%"],
    "stretch": ["target.new_bookings=+10%"],
}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """The shared 30,000-lead, 36-month demo company (see test_cascade.demo_folder)."""
    ws = Workspace.open(demo_folder(tmp_path_factory) / "ws")
    yield ws  # type: ignore[misc]
    ws.close()


@pytest.fixture(scope="module")
def compared(demo: Workspace) -> pd.DataFrame:
    """The baseline, the demo plan's two scenarios and four single changes, side by side."""
    frame = compare(demo.tables(), demo.schema, demo.plan, list(CHANGES.items()))
    return frame.set_index(["scenario", "success_factor", "measure", "stage"])["value"]


def value(frame: pd.Series, scenario: str, factor: str, measure: str, stage: object = None):  # type: ignore[no-untyped-def]
    """One number of the comparison."""
    return frame[(scenario, factor, measure, stage)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("conversion.sql=+0.05", ("conversion", None, "sql", "add", 0.05)),
        ("conversion.computing.sql=0.4", ("conversion", "computing", "sql", "set", 0.4)),
        ("deal_size.computing=*1.1", ("deal_size", "computing", None, "mul", 1.1)),
        ("deal_size=150000", ("deal_size", None, None, "set", 150000.0)),
        ("budget.paid_search=-20%", ("budget", None, "paid_search", "mul", 0.8)),
        ("budget=+10%", ("budget", None, None, "mul", 1.1)),
        ("lag_days.sql=-3", ("lag_days", None, "sql", "add", -3.0)),
        ("target.new_bookings=30%", ("target", None, "new_bookings", "set", 0.3)),
    ],
)
def test_changes_parse(text: str, expected: tuple[object, ...]) -> None:
    """Each accepted form gives the kind, segment, key, operation and amount."""
    change = parse_change(text)
    got = (change.kind, change.segment, change.key, change.op, change.amount)
    assert got[:4] == expected[:4] and got[4] == pytest.approx(expected[4])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("conversion.sql", "no '='"),
        ("speed.sql=2", "unknown assumption 'speed'"),
        ("conversion=0.3", "write conversion.STAGE or conversion.SEGMENT.STAGE"),
        ("deal_size.a.b=1", "write deal_size or deal_size.SEGMENT"),
        ("budget.paid_search=lots", "the value 'lots' is not a number"),
        ("deal_size=*10%", "multiply by a number"),
        ("Budget.x=1", "unknown assumption 'Budget'"),
    ],
)
def test_bad_changes_name_the_string_and_what_was_expected(text: str, message: str) -> None:
    """A change that does not parse is a MissionlineError quoting it."""
    with pytest.raises(MissionlineError) as raised:
        parse_change(text)
    assert text in raised.value.message and message in raised.value.message


def test_changes_are_checked_against_the_plan(demo: Workspace) -> None:
    """Unknown segments, stages off the ladder and unknown factors are refused."""
    for text, message in (
        ("conversion.retail.sql=0.3", "unknown segment 'retail'"),
        ("conversion.radar=0.3", "ladder stage before the last"),
        ("conversion.won=0.3", "ladder stage before the last"),
        ("target.profit=1", "unknown success factor 'profit'"),
        ("conversion.sql=2", "a share in (0, 1]"),
    ):
        with pytest.raises(MissionlineError, match=r"change '.*'"):
            parse_changes(demo.plan, [text])
        try:
            parse_changes(demo.plan, [text])
        except MissionlineError as exc:
            assert message in exc.message


def test_apply_changes_only_what_it_names(demo: Workspace) -> None:
    """A conversion change moves one step; a segment's deal size moves one ladder; lags shift."""
    scopes = measure_scopes(demo.tables(), demo.schema, demo.plan)
    base = scopes[("new", None)].ladders
    changed = apply(
        scopes,
        parse_changes(
            demo.plan,
            ["conversion.sql=+0.05", "deal_size.computing=*1.1", "lag_days.opportunity=+10"],
        ),
    )
    after = changed[("new", None)].ladders
    for segment, lad in base.items():
        for old, new in zip(lad.steps, after[segment].steps, strict=True):
            if old.stage == "sql":
                assert new.conversion == pytest.approx(old.conversion + 0.05)
                assert new.conversion_source == "scenario: conversion.sql=+0.05"
            elif old.stage == "opportunity":
                assert new.lag_mean == pytest.approx(old.lag_mean + 10)
            else:
                assert new == old
        factor = 1.1 if segment == "computing" else 1.0
        assert after[segment].deal_size == pytest.approx(lad.deal_size * factor)
        assert after[segment].amounts.mean() == pytest.approx(lad.amounts.mean() * factor)


def test_scenarios_move_the_numbers_they_should(compared: pd.Series) -> None:
    """Better SQL conversion cuts needs above SQL only; bigger deals cut won deals; a budget cut
    lowers the funded budget and the run-rate attainment; a stretched target needs 10% more."""
    base, factor = "baseline", "new_bookings"
    assert value(compared, "sql_up", factor, "required", "won") == pytest.approx(
        value(compared, base, factor, "required", "won")
    )
    assert value(compared, "sql_up", factor, "required", "opportunity") == pytest.approx(
        value(compared, base, factor, "required", "opportunity")
    )
    for stage in ("lead", "mql", "sal", "sql"):
        assert value(compared, "sql_up", factor, "required", stage) < value(
            compared, base, factor, "required", stage
        )
    assert value(compared, "sql_up", factor, "run_rate_attainment") > value(
        compared, base, factor, "run_rate_attainment"
    )
    computing = value(compared, "bigger_computing", "computing_share", "required", "won")
    assert computing == pytest.approx(
        value(compared, base, "computing_share", "required", "won") / 1.1
    )
    funded = value(compared, "search_cut", factor, "budget_funded", "lead")
    assert funded < value(compared, base, factor, "budget_funded", "lead")
    assert value(compared, "search_cut", factor, "run_rate_attainment") < value(
        compared, base, factor, "run_rate_attainment"
    )
    assert value(compared, "stretch", factor, "target") == pytest.approx(22_000_000 * 1.1)
    assert value(compared, "stretch", factor, "required", "lead") == pytest.approx(
        1.1 * value(compared, base, factor, "required", "lead")
    )
    saved = {s for s, *_ in compared.index}
    assert {"sharper_qualification", "paid_search_cut"} <= saved


def test_save_keeps_comments_and_replaces_by_name(tmp_path: Path) -> None:
    """Saving writes the scenario into the plan, keeps its comments, and replaces a namesake."""
    path = tmp_path / "missionline.yaml"
    path.write_text(packaged_example("demo").read_text())
    saved = save_scenario(path, "Bigger deals", ["deal_size=*1.2"])
    again = save_scenario(path, "Bigger deals", ["deal_size=*1.3", "conversion.sql=+0.01"])
    text = path.read_text()
    assert saved == again == "bigger_deals"
    assert "# The demo company's mission plan" in text and "# The top-down cascade" in text
    scenarios = {s.id: s.set for s in load_plan(path).scenarios}
    assert scenarios["bigger_deals"] == ["deal_size=*1.3", "conversion.sql=+0.01"]
    assert len(scenarios) == 3
    with pytest.raises(MissionlineError):
        save_scenario(path, "Broken", ["conversion.nowhere=0.2"])
    assert path.read_text() == text  # a plan that would not load is not written


def test_survival_is_kaplan_meier() -> None:
    """Two deals close on day 1, one is still open (censored) on day 2, one closes on day 3."""
    frame = pd.DataFrame({"days": [1, 2, 3], "closed": [True, False, True], "n": [2, 1, 1]})
    assert survival(frame).tolist() == pytest.approx([1.0, 0.5, 0.5, 0.0])


def test_capacity_against_demand(demo: Workspace) -> None:
    """Capacity is the owners' total; open deals needed follow Little's law; flags follow the
    columns."""
    frame = capacity_check(demo.tables(), demo.schema, demo.plan)
    owners = demo.table("owners")
    assert (frame["sales_capacity"] == owners.loc[owners["capacity"] > 0, "capacity"].sum()).all()
    steady = frame.iloc[6:14]  # inside the horizon, away from its edges
    opps = demo.table("opportunities")
    closed = opps[(opps["kind"] == "new") & opps["closed_at"].notna()]
    days_open = (closed["closed_at"] - closed["created_at"]).dt.total_seconds() / 86400
    little = steady["required_opportunities"] / 30.4 * days_open.mean()
    assert np.allclose(steady["required_open"], little, rtol=0.25)
    scarce = (
        (frame["required_open"] > frame["sales_capacity"])
        | (frame["open_deals"] > frame["sales_capacity"])
        | (frame["required_mqls"] > frame["fundable_mqls"])
    )
    assert (frame["resource_scarcity"] == scarce).all()
    assert (frame["scarce"].notna() == frame["resource_scarcity"]).all()
    load = frame["open_deals"].fillna(frame["required_open"])
    assert (frame["opportunity_scarcity"] == (load < 0.5 * frame["sales_capacity"])).all()
    assert set(frame["budget_source"]) == {"plan: initiative budgets"}


def test_cli_scenario_and_capacity(demo: Workspace, tmp_path: Path) -> None:
    """`scenario` refuses a bad --set (status 2), saves with --save, and prints JSON; so does
    `capacity`."""
    app = typer.Typer()
    register_cascade_commands(app)
    runner = CliRunner()
    bad = runner.invoke(app, ["scenario", "-w", str(demo.folder), "--set", "conversion.sql"])
    assert bad.exit_code != 0 and isinstance(bad.exception, MissionlineError)
    empty = Workspace.init(tmp_path / "ws")
    empty.close()
    saved = runner.invoke(
        app,
        [
            "scenario",
            "-w",
            str(tmp_path / "ws"),
            "--set",
            "conversion.sql=+0.1",
            "--name",
            "Better SQL",
            "--save",
            "-f",
            "json",
        ],
    )
    assert saved.exit_code == 0, saved.output
    payload = json.loads(saved.stdout)
    assert {"id": "better_sql", "set": ["conversion.sql=+0.1"]} in payload["scenarios"]
    assert "better_sql" in (tmp_path / "ws" / "missionline.yaml").read_text()
    capacity = runner.invoke(app, ["capacity", "-w", str(demo.folder), "-f", "json"])
    assert capacity.exit_code == 0, capacity.output
    rows = json.loads(capacity.stdout)
    assert len(rows) == 24 and {"period", "required_open", "resource_scarcity"} <= set(rows[0])
