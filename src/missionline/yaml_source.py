"""Load YAML keeping the line and column of every key and item, for errors that point at them.

Used by the plan and by mapping files; pydantic validation errors are mapped back to positions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from missionline.errors import PlanError, Problem

Path_ = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)


@dataclass
class YamlSource:
    """Plain data read from a YAML file, with the 1-based position of every node."""

    file: str
    data: Any
    positions: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    value_positions: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)

    def locate(self, path: Sequence[str | int]) -> tuple[int | None, int | None]:
        """Return the line and column of the deepest known node on ``path``."""
        path = tuple(path)
        while path:
            if path in self.positions:
                return self.positions[path]
            path = path[:-1]
        return self.positions.get((), (None, None))

    def locate_value(self, path: Sequence[str | int]) -> tuple[int | None, int | None]:
        """Return where the text of the scalar value at ``path`` starts.

        For a quoted value that is just after the quote; for a block scalar (``|`` or ``>``)
        only the line is known, and the column is None.
        """
        line, column = self.value_positions.get(tuple(path)) or self.locate(path)
        if line is None or column is None or line > len(self.lines):
            return line, column
        mark = self.lines[line - 1][column - 1 : column]
        if mark in ("'", '"'):
            return line, column + 1
        if mark in ("|", ">"):
            return line, None
        return line, column

    def problem(self, path: Sequence[str | int], message: str) -> Problem:
        """Return a problem located at ``path`` in this file."""
        line, column = self.locate(path)
        return Problem(message, self.file, line, column)


def _plain(
    node: Any,
    path: Path_,
    positions: dict[Path_, tuple[int, int]],
    values: dict[Path_, tuple[int, int]],
) -> Any:
    """Convert ruamel nodes into dicts and lists, recording positions on the way."""
    if isinstance(node, CommentedMap):
        out: dict[Any, Any] = {}
        for key, value in node.items():
            child = (*path, key)
            line, col = node.lc.key(key)
            positions[child] = (line + 1, col + 1)
            if isinstance(value, str):
                value_line, value_col = node.lc.value(key)
                values[child] = (value_line + 1, value_col + 1)
            out[key] = _plain(value, child, positions, values)
        return out
    if isinstance(node, CommentedSeq):
        items = []
        for index, value in enumerate(node):
            child = (*path, index)
            line, col = node.lc.item(index)
            positions[child] = (line + 1, col + 1)
            items.append(_plain(value, child, positions, values))
        return items
    if isinstance(node, str):
        return str(node)
    return node


def read_yaml(path: Path, text: str | None = None) -> YamlSource:
    """Parse a YAML file (or ``text`` named after it) into a :class:`YamlSource`."""
    name = str(path)
    if text is None:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise PlanError(f"{name}: file not found") from None
        except UnicodeDecodeError as exc:
            raise PlanError(f"{name}: not UTF-8 text ({exc.reason})") from None
    yaml = YAML(typ="rt")
    try:
        node = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else None
        column = mark.column + 1 if mark is not None else None
        problem = Problem(f"invalid YAML: {exc.problem}", name, line, column)
        raise PlanError(f"{name} is not valid YAML", [problem]) from None
    positions: dict[Path_, tuple[int, int]] = {(): (1, 1)}
    values: dict[Path_, tuple[int, int]] = {}
    data = _plain(node, (), positions, values)
    return YamlSource(name, data, positions, values, text.splitlines())


def _describe(error: Mapping[str, Any]) -> str:
    """Turn one pydantic error into a sentence saying what was expected and found."""
    kind = error["type"]
    found = error.get("input")
    if kind == "extra_forbidden":
        return f"unknown key '{error['loc'][-1]}'"
    if kind == "missing":
        return f"missing required key '{error['loc'][-1]}'"
    shown = repr(found) if not isinstance(found, dict | list) else type(found).__name__
    return f"{error['msg'].rstrip('.')}, found {shown}"


def validate_model(source: YamlSource, model: type[M], what: str) -> M:
    """Validate the source against ``model``; raise a located PlanError listing every problem."""
    if not isinstance(source.data, dict):
        found = type(source.data).__name__ if source.data is not None else "an empty file"
        problem = source.problem((), f"expected a mapping of keys at the top, found {found}")
        raise PlanError(f"{source.file} is not a valid {what}", [problem])
    try:
        return model.model_validate(source.data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            loc = tuple(p for p in error["loc"] if isinstance(p, str | int))
            problems.append(source.problem(loc, f"{_loc_text(loc)}: {_describe(error)}"))
        problems.sort(key=lambda p: (p.line or 0, p.column if isinstance(p.column, int) else 0))
        raise PlanError(f"{source.file} is not a valid {what}", problems) from None


def _loc_text(loc: Sequence[str | int]) -> str:
    """Render a location like ``lifecycle.stages[2].owner``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "(top)"
