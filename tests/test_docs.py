"""The documentation keeps up with the code: tables, columns, commands, options and links."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import typer

import missionline.plan.check  # noqa: F401  (importing it registers every plan rule)
from missionline.cli.main import app
from missionline.data.schema import TABLES
from missionline.metrics.library import MEASURES
from missionline.plan.expressions import FUNCTIONS
from missionline.plan.models import PlanModel
from missionline.plan.rules import RULES

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
DOC_FILES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]


def flatten(commands: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Return every command by its full name, sub-commands of groups included ("plan check")."""
    out = {}
    for name, command in commands.items():
        out[prefix + name] = command
        out |= flatten(getattr(command, "commands", {}), f"{prefix}{name} ")
    return out


# The click commands behind the app (typer may vendor its own click: no isinstance checks).
COMMANDS = flatten(getattr(typer.main.get_command(app), "commands", {}))


def plan_models(base: type[PlanModel] = PlanModel) -> list[type[PlanModel]]:
    """Return every model of the plan file (the subclasses of PlanModel, at any depth)."""
    found = []
    for model in base.__subclasses__():
        found += [model, *plan_models(model)]
    return found


# Every key of the plan file: (model name, key), e.g. ("Stage", "entry_rule").
PLAN_KEYS = sorted({(m.__name__, key) for m in plan_models() for key in m.model_fields})

FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.M | re.S)
INLINE_CODE = re.compile(r"`[^`\n]*`")
INLINE_LINK = re.compile(r"\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_LINK = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$", re.M)
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def read(path: Path) -> str:
    """Return the text of a documentation file."""
    return path.read_text(encoding="utf-8")


def sections(text: str, level: int) -> dict[str, str]:
    """Split markdown into {heading text: body} at headings of exactly ``level`` hashes."""
    out: dict[str, str] = {}
    heading = None
    for line in FENCE.sub("", text).splitlines():
        match = re.match(rf"^#{{{level}}} (.+?)\s*#*\s*$", line)
        if match:
            heading = match.group(1)
            out[heading] = ""
        elif heading is not None:
            out[heading] += line + "\n"
    return out


def slug(heading: str) -> str:
    """Return the anchor GitHub gives a heading: lower case, punctuation dropped, '-' for spaces."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Return every heading anchor of a markdown text, with GitHub's suffixes for repeats."""
    seen: dict[str, int] = {}
    found = set()
    for line in FENCE.sub("", text).splitlines():
        match = re.match(r"^#{1,6} (.+?)\s*#*\s*$", line)
        if not match:
            continue
        base = slug(match.group(1))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def links() -> list[tuple[Path, str]]:
    """Return (file, target) for every relative link in README.md and docs/*.md."""
    found = []
    for path in DOC_FILES:
        text = INLINE_CODE.sub("", FENCE.sub("", read(path)))
        for target in INLINE_LINK.findall(text) + REFERENCE_LINK.findall(text):
            if not SCHEME.match(target) and not target.startswith("#"):
                found.append((path, target))
    return found


def fragment_links() -> list[tuple[Path, str]]:
    """Return (file, target) for every link with an anchor into a markdown file of the docs."""
    found = []
    for path in DOC_FILES:
        text = INLINE_CODE.sub("", FENCE.sub("", read(path)))
        for target in INLINE_LINK.findall(text):
            if SCHEME.match(target) or "#" not in target:
                continue
            file_part = target.split("#", 1)[0]
            if not file_part or file_part.endswith(".md"):
                found.append((path, target))
    return found


def link_id(item: tuple[Path, str]) -> str:
    """Name a parametrized link case after its file and target."""
    path, target = item
    return f"{path.relative_to(ROOT)}->{target}"


def command_section(name: str) -> str:
    """Return the body of the docs/cli.md section whose heading names ``missionline NAME``."""
    for heading, body in sections(read(DOCS / "cli.md"), 2).items():
        if re.search(rf"\bmissionline {re.escape(name)}\b", heading):
            return body
    raise AssertionError(f"docs/cli.md has no '## `missionline {name}`' section")


def test_the_cli_has_commands() -> None:
    """The command list read from the app is not empty (so the command tests test something)."""
    assert {"init", "import", "funnel"} <= set(COMMANDS)


@pytest.mark.parametrize("table", sorted(TABLES))
def test_every_table_and_column_is_in_the_data_model(table: str) -> None:
    """Each canonical table has a section in docs/data-model.md that names all its columns."""
    body = sections(read(DOCS / "data-model.md"), 2).get(f"`{table}`")
    assert body is not None, f"docs/data-model.md has no '## `{table}`' section"
    missing = [c.name for c in TABLES[table].columns if f"`{c.name}`" not in body]
    assert not missing, f"docs/data-model.md does not describe {table} columns {missing}"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_is_in_the_cli_reference(name: str) -> None:
    """Each CLI command appears in docs/cli.md as a heading or in code."""
    text = read(DOCS / "cli.md")
    as_heading = re.search(rf"^#+ .*\b{re.escape(name)}\b", text, re.M)
    as_code = f"missionline {name}" in "\n".join(INLINE_CODE.findall(text) + FENCE.findall(text))
    assert as_heading or as_code or f"`missionline {name}" in text


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_option_is_in_the_cli_reference(name: str) -> None:
    """Each option of each CLI command is named in that command's section of docs/cli.md."""
    body = command_section(name)
    params = COMMANDS[name].params
    options = [o for p in params if p.param_type_name == "option" for o in p.opts if o != "--help"]
    missing = [o for o in options if not re.search(rf"`{re.escape(o)}[ `]", body)]
    assert not missing, f"docs/cli.md does not document {name} options {missing}"


@pytest.mark.parametrize(("path", "target"), links(), ids=map(link_id, links()))
def test_relative_links_point_at_files(path: Path, target: str) -> None:
    """A relative link in README.md or docs/*.md points at a file or folder that exists."""
    file_part = target.split("#", 1)[0].split("?", 1)[0]
    assert (path.parent / file_part).exists(), f"{path.relative_to(ROOT)}: broken link {target}"


@pytest.mark.parametrize(("path", "target"), fragment_links(), ids=map(link_id, fragment_links()))
def test_anchors_point_at_headings(path: Path, target: str) -> None:
    """A link to #anchor in a markdown file names a heading of that file."""
    file_part, anchor = target.split("#", 1)
    linked = (path.parent / file_part) if file_part else path
    if not linked.is_file():
        pytest.skip(f"{file_part} does not exist (reported by the link test)")
    assert anchor in anchors(read(linked)), f"{path.relative_to(ROOT)}: no heading for {target}"


def table_row(body: str, first_cell: str) -> list[str] | None:
    """Return the cells of the markdown table row in ``body`` whose first cell starts so."""
    for line in body.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.lstrip().startswith("|") and cells[0].startswith(first_cell):
            return cells
    return None


def test_the_plan_registries_are_not_empty() -> None:
    """Rules, measures, functions and plan keys were found (so the tests below test something)."""
    assert len(RULES) >= 10 and len(MEASURES) >= 8 and len(FUNCTIONS) >= 5
    assert ("Stage", "entry_rule") in PLAN_KEYS


@pytest.mark.parametrize("rule", RULES, ids=[rule.id for rule in RULES])
def test_every_rule_is_in_the_plan_rules_table(rule: type[Any]) -> None:
    """Each plan rule has a row in the Rules table of docs/plan.md: id, severity, ..., hint."""
    body = sections(read(DOCS / "plan.md"), 2).get("Rules")
    assert body is not None, "docs/plan.md has no '## Rules' section"
    row = table_row(body, f"`{rule.id}`")
    assert row is not None, f"docs/plan.md does not list rule {rule.id} in its Rules table"
    assert row[1] == rule.severity, f"docs/plan.md gives {rule.id} severity {row[1]!r}"
    assert row[-1] == rule.hint, f"docs/plan.md gives {rule.id} another hint than the code"


@pytest.mark.parametrize("measure", sorted(MEASURES))
def test_every_measure_is_documented(measure: str) -> None:
    """Each measure has a row in docs/plan.md (Measures) and in docs/metrics.md (Plan metrics)."""
    measures = sections(read(DOCS / "plan.md"), 4).get("Measures")
    assert measures is not None, "docs/plan.md has no '#### Measures' section"
    assert table_row(measures, f"`{measure}`"), f"docs/plan.md does not list measure {measure}"
    definitions = sections(read(DOCS / "metrics.md"), 2).get("Plan metrics")
    assert definitions is not None, "docs/metrics.md has no '## Plan metrics' section"
    assert table_row(definitions, f"`{measure}`"), f"docs/metrics.md does not define {measure}"


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_every_expression_function_is_documented(name: str) -> None:
    """Each entry-rule function has a row in the Functions table of docs/expressions.md."""
    body = sections(read(DOCS / "expressions.md"), 2).get("Functions")
    assert body is not None, "docs/expressions.md has no '## Functions' section"
    assert table_row(body, f"`{name}("), f"docs/expressions.md does not describe {name}()"


@pytest.mark.parametrize(("model", "key"), PLAN_KEYS, ids=[f"{m}.{k}" for m, k in PLAN_KEYS])
def test_every_plan_key_is_in_the_plan_reference(model: str, key: str) -> None:
    """Each key of the plan file is named in code in docs/plan.md."""
    spans = INLINE_CODE.findall(FENCE.sub("", read(DOCS / "plan.md")))
    assert any(re.search(rf"\b{re.escape(key)}\b", span) for span in spans), (
        f"docs/plan.md does not name the key {key} of {model}"
    )
