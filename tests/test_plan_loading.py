"""The plan loads into models, and every mistake is reported at its file, line and column."""

from __future__ import annotations

from pathlib import Path

import pytest

from missionline.errors import PlanError
from missionline.plan import load_plan, plan_from_text
from missionline.workspace import packaged_example

STAGES = """
lifecycle:
  stages:
    - id: lead
      name: Lead
      next: [mql]
    - id: mql
      name: MQL
"""


def problems(text: str) -> list[str]:
    """Load ``text`` expecting a PlanError; return its problems."""
    with pytest.raises(PlanError) as caught:
        plan_from_text(text)
    return [str(p) for p in caught.value.problems]


@pytest.mark.parametrize("name", ["demo", "starter"])
def test_packaged_plans_load(name: str) -> None:
    """The demo and starter plans are valid."""
    plan = load_plan(packaged_example(name))
    assert plan.lifecycle.path()[0].id in ("radar", "lead")


def test_main_path_excludes_exits() -> None:
    """Exit stages (disqualified, lost, recycled) are off the main path."""
    plan = load_plan(packaged_example("demo"))
    path = [s.id for s in plan.lifecycle.path()]
    assert path == [
        "radar",
        "lead",
        "mql",
        "sal",
        "sql",
        "opportunity",
        "won",
        "customer",
        "expansion",
        "advocate",
    ]


def test_unknown_key_is_located() -> None:
    """A misspelt key names its line and column."""
    text = STAGES.replace("      next: [mql]", "      nxt: [mql]")
    assert problems(text) == ["missionline.yaml:6:7: lifecycle.stages[0].nxt: unknown key 'nxt'"]


def test_wrong_type_is_located() -> None:
    """A value of the wrong type says what was expected and found."""
    text = STAGES.replace("      name: MQL", "      name: MQL\n      record_type: lead")
    (problem,) = problems(text)
    assert problem.startswith(
        "missionline.yaml:9:7: lifecycle.stages[1].record_type: Input should"
        " be 'person', 'opportunity' or 'account', found 'lead'"
    )


def test_missing_key_is_located_at_its_parent() -> None:
    """A missing required key points at the object that lacks it."""
    text = STAGES.replace("      name: MQL\n", "")
    assert problems(text) == [
        "missionline.yaml:7:7: lifecycle.stages[1].name: missing required key 'name'"
    ]


def test_yaml_syntax_error_is_located() -> None:
    """Broken YAML is reported at the parser's position."""
    (problem,) = problems("lifecycle:\n  stages: [\n")
    assert problem.startswith("missionline.yaml:3:1: invalid YAML")


def test_unknown_next_stage() -> None:
    """A transition to a stage that does not exist is an error at that list item."""
    text = STAGES.replace("next: [mql]", "next: [mql, sql]")
    assert problems(text) == [
        "missionline.yaml:6:19: [unknown-reference] stage 'lead' refers to unknown stage 'sql' in "
        "next. Declare it or fix the id."
    ]


def test_duplicate_stage_id() -> None:
    """Two stages with one id are an error at the second."""
    text = STAGES.replace("    - id: mql", "    - id: lead")
    assert (
        "missionline.yaml:7:7: [duplicate-id] stage id 'lead' is used twice. Ids must be unique "
        "within their list." in problems(text)
    )


def test_unknown_owner_function() -> None:
    """A stage owned by an undeclared function is an error."""
    text = "functions: [{id: marketing, name: Marketing}]\n" + STAGES.replace(
        "      name: MQL", "      name: MQL\n      owner: sales"
    )
    assert problems(text) == [
        "missionline.yaml:10:7: [unknown-reference] stage 'mql' refers to unknown function 'sales' "
        "in owner. Declare it or fix the id."
    ]


def test_fields_on_unknown_table_or_shadowing_columns() -> None:
    """Declared fields must extend a canonical table with new columns."""
    text = "fields:\n  leads: {score: float}\n  people: {created_at: timestamp}\n" + STAGES
    assert [p.split(" [")[1].split("]")[0] for p in problems(text)] == [
        "unknown-field-table",
        "unknown-field-table",
    ]


def test_empty_file() -> None:
    """An empty plan file says what it expected."""
    assert problems("") == [
        "missionline.yaml:1:1: expected a mapping of keys at the top, found an empty file"
    ]


def test_missing_plan_file(tmp_path: Path) -> None:
    """A missing file is a clear error, not a traceback."""
    with pytest.raises(PlanError, match="file not found"):
        load_plan(tmp_path / "missionline.yaml")
