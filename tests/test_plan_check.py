"""`plan check`: each rule fires on a plan that breaks it, at the right line, and not otherwise."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from missionline.cli.main import main
from missionline.plan.check import check_plan
from missionline.plan.rules import RULES, PlanContext
from missionline.plan.schema import committed_schema_path, plan_json_schema
from missionline.workspace import packaged_example

BASE = """\
mission:
  statement: Be the first choice.
  horizon: {start: 2025-01-01, end: 2025-12-31}
success_factors:
  - {id: bookings, name: Bookings, metric: bookings, target: 1000000, period: quarter, unit: USD}
functions:
  - {id: marketing, name: Marketing}
  - {id: sales, name: Sales}
objectives:
  - {id: mkt_mqls, function: marketing, supports: [bookings], metric: mqls, target: 100, period: quarter, unit: count}
  - {id: sales_bookings, function: sales, supports: [bookings], metric: bookings, target: 1000000, period: quarter}
segments:
  - {id: computing, name: Computing, priority: 1}
messages:
  - {id: msg_one, segment: computing, statement: Fast.}
initiatives:
  - {id: ini_ads, name: Ads, function: marketing, supports: [mkt_mqls], budget: 1000, start: 2025-02-01, end: 2025-03-01, message: msg_one}
lifecycle:
  stages:
    - id: lead
      name: Lead
      definition: Engaged.
      owner: marketing
      entry_rule: source_channel is not null
      next: [mql]
    - id: mql
      name: MQL
      definition: Qualified.
      owner: marketing
      entry_rule: source_channel is not null
      sla: {within: 24h, until: first_sales_touch}
      next: [won]
    - id: won
      name: Won
      definition: Signed.
      owner: sales
      entry_rule: amount > 0
      record_type: opportunity
metrics:
  bookings: {measure: won_amount, kind: new}
  mqls: {measure: entries, stage: mql}
"""


def findings(text: str, context: PlanContext | None = None) -> list[tuple[str, int | None]]:
    """Check ``text``; return (rule, line) for every finding."""
    result = check_plan(Path("missionline.yaml"), context, text=text)
    return [(f.rule, f.line) for f in result.findings]


def test_base_plan_is_clean() -> None:
    """The fixture plan used below has no findings at all."""
    assert findings(BASE) == []


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("id: sales_bookings,", "id: mkt_mqls,", ("duplicate-id", 11)),
        (
            "supports: [mkt_mqls], budget",
            "supports: [mkt_leads], budget",
            ("unknown-reference", 17),
        ),
        ("function: sales, supports", "function: finance, supports", ("unknown-reference", 11)),
        (
            "supports: [bookings], metric: mqls",
            "supports: [revenue], metric: mqls",
            ("unknown-reference", 10),
        ),
        ("message: msg_one}", "message: msg_two}", ("unknown-reference", 17)),
        ("metric: mqls, target: 100", "metric: leads, target: 100", ("unknown-metric", 10)),
        ("stage: mql}", "stage: sql}", ("unknown-metric", 41)),
        ("until: first_sales_touch", "until: sal", ("sla-unknown-stage", 31)),
        ("      next: [won]\n", "      next: [won, lead]\n", ("cycle", 25)),
        ("      next: [mql]\n", "", ("unreachable-stage", 25)),
        ("supports: [mkt_mqls], budget", "supports: [], budget", ("orphan-initiative", 17)),
        (
            "supports: [bookings], metric: mqls",
            "supports: [], metric: mqls",
            ("objective-without-outcome", 10),
        ),
        (
            "supports: [bookings], metric: bookings",
            "supports: [], metric: bookings",
            ("objective-without-outcome", 11),
        ),
        (
            "  - {id: sales, name: Sales}\n",
            "  - {id: sales, name: Sales}\n  - {id: cs, name: CS}\n",
            ("function-without-objective", 9),
        ),
        ("      entry_rule: amount > 0\n", "", ("incomplete-stage", 33)),
        (
            "target: 100, period: quarter, unit: count",
            "target: 100, period: quarter, unit: USD",
            ("unit-mismatch", 10),
        ),
        ("end: 2025-03-01", "end: 2026-03-01", ("initiative-outside-horizon", 17)),
    ],
)
def test_rule_fires_at_its_line(old: str, new: str, expected: tuple[str, int]) -> None:
    """Breaking the plan in one place gives that rule's finding at that line."""
    assert old in BASE
    assert expected in findings(BASE.replace(old, new, 1))


def test_unowned_outcome() -> None:
    """A success factor no objective supports is reported at its line."""
    text = BASE.replace(
        "  - {id: bookings,",
        "  - {id: share, name: Share, metric: bookings, target: 1, "
        "period: year, unit: USD}\n  - {id: bookings,",
    )
    assert ("unowned-outcome", 5) in findings(text)


def test_budget_without_spend_needs_data() -> None:
    """With spend data, a budgeted initiative without spend is a warning; without data, quiet."""
    assert findings(BASE, PlanContext(spend_by_initiative={"other": 10.0})) == [
        ("budget-without-spend", 17)
    ]
    assert findings(BASE, PlanContext(spend_by_initiative={"ini_ads": 10.0})) == []


def test_every_rule_has_id_severity_and_hint() -> None:
    """The registry holds documented rules with ids and hints."""
    ids = {rule.id for rule in RULES}
    assert len(ids) >= 15
    for rule in RULES:
        assert rule.id and rule.severity in ("error", "warning") and rule.hint and rule.__doc__


def test_demo_plan_has_no_errors() -> None:
    """The demo company's plan passes plan check (warnings only, on purpose)."""
    result = check_plan(packaged_example("demo"), PlanContext(spend_by_initiative={"x": 1.0}))
    assert result.errors == []
    rules = {f.rule for f in result.warnings}
    assert rules == {"budget-without-spend", "orphan-initiative"}


def test_committed_json_schema_matches_models() -> None:
    """The schema file shipped for editors is the one the models generate (no drift)."""
    committed = json.loads(committed_schema_path().read_text())
    assert committed == plan_json_schema(), "run: missionline plan schema -o " + str(
        committed_schema_path()
    )


def test_cli_exit_statuses(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """plan check exits 0 when clean, 1 on warnings with --strict, 2 on errors; JSON lists both."""
    folder = tmp_path / "w"
    folder.mkdir()
    (folder / "missionline.yaml").write_text(BASE)
    assert main(["plan", "check", "-w", str(folder)]) == 0
    (folder / "missionline.yaml").write_text(
        BASE.replace("supports: [mkt_mqls], budget", "supports: [], budget")
    )
    assert main(["plan", "check", "-w", str(folder)]) == 0
    assert main(["plan", "check", "-w", str(folder), "--strict"]) == 1
    (folder / "missionline.yaml").write_text(BASE.replace("message: msg_one}", "message: x}"))
    capsys.readouterr()
    assert main(["plan", "check", "-w", str(folder), "-f", "json"]) == 2
    report = json.loads(capsys.readouterr().out)
    (error,) = report["errors"]
    assert error["rule"] == "unknown-reference" and error["line"] == 17
    assert set(error) == {"rule", "message", "file", "line", "column", "object"}
    assert error["object"] == "ini_ads"


def test_schema_errors_are_findings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A schema error (unknown key) is reported by plan check with its line, exit 2."""
    folder = tmp_path / "w"
    folder.mkdir()
    (folder / "missionline.yaml").write_text(BASE.replace("  statement:", "  statment:"))
    assert main(["plan", "check", "-w", str(folder), "-f", "json"]) == 2
    errors = json.loads(capsys.readouterr().out)["errors"]
    assert {(e["rule"], e["line"]) for e in errors} == {("schema", 1), ("schema", 2)}
    assert "unknown key 'statment'" in errors[-1]["message"]


def test_demo_plan_round_trips_through_yaml(tmp_path: Path) -> None:
    """The demo plan, dumped from its model to YAML and loaded again, is the same plan."""
    from ruamel.yaml import YAML

    from missionline.plan import load_plan

    plan = load_plan(packaged_example("demo"))
    out = tmp_path / "missionline.yaml"
    YAML().dump(plan.model_dump(mode="json", exclude_defaults=True), out)
    assert load_plan(out) == plan


def test_init_gives_editors_the_schema(tmp_path: Path) -> None:
    """A new workspace holds plan.schema.json and the plan's modeline points at it."""
    from missionline.workspace import Workspace

    with Workspace.init(tmp_path / "w", "demo") as ws:
        text = (ws.folder / "missionline.yaml").read_text()
    assert text.startswith("# yaml-language-server: $schema=plan.schema.json\n")
    assert json.loads((tmp_path / "w" / "plan.schema.json").read_text()) == plan_json_schema()


@pytest.mark.parametrize("suffix", ["html", "svg", "png"])
def test_plan_map_command(tmp_path: Path, suffix: str) -> None:
    """`missionline plan map` writes the map in the format its file name asks for."""
    folder = tmp_path / "w"
    assert main(["init", "-w", str(folder), "--from", "demo"]) == 0
    out = tmp_path / f"map.{suffix}"
    assert main(["plan", "map", "-w", str(folder), "-o", str(out)]) == 0
    assert out.stat().st_size > 1000
    assert main(["plan", "map", "-w", str(folder), "-o", str(tmp_path / "map.pdf")]) == 2


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "mqls: {measure: entries, stage: mql}",
            "mqls: {measure: entries}",
            ("unknown-metric", 41),
        ),
        (
            "mqls: {measure: entries, stage: mql}",
            "mqls: {measure: conversion, stage: won}",
            ("unknown-metric", 41),
        ),
        (
            "mission:\n  statement: Be the first choice.\n  horizon: {start: 2025-01-01, end: 2025-12-31}\n",
            "",
            ("horizon-without-mission", 7),
        ),
    ],
)
def test_metric_and_horizon_sanity(old: str, new: str, expected: tuple[str, int]) -> None:
    """Metrics that cannot be computed, and horizon targets without a horizon, are errors."""
    text = BASE.replace(old, new, 1)
    if expected[0] == "horizon-without-mission":
        text = text.replace("period: quarter, unit: count}", "period: horizon, unit: count}")
        text = text.replace(
            "  - {id: ini_ads, name: Ads, function: marketing, supports: [mkt_mqls], budget: 1000, start: 2025-02-01, end: 2025-03-01, message: msg_one}",
            "  - {id: ini_ads, name: Ads, function: marketing, supports: [mkt_mqls], message: msg_one}",
        )
    assert expected in findings(text)


def test_entry_rule_column_inside_quotes() -> None:
    """A quoted entry rule's error column points inside the quotes, at the offending name."""
    text = BASE.replace("entry_rule: amount > 0", 'entry_rule: "amuont > 0"')
    (finding,) = [
        f
        for f in check_plan(Path("missionline.yaml"), text=text).findings
        if f.rule == "invalid-entry-rule"
    ]
    assert (finding.line, finding.column) == (37, 20)


def test_no_main_path() -> None:
    """A lifecycle whose every stage is an exit has no funnel to measure."""
    text = "lifecycle:\n  stages:\n    - {id: gone, name: Gone, exit: lost}\n"
    assert ("no-main-path", 2) in findings(text)
