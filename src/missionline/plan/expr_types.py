"""Type checking of entry rules against the columns that a stage's records have."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from datetime import UTC, date, datetime

from missionline.plan.expr_nodes import (
    Binary,
    Call,
    Column,
    Compare,
    ExpressionError,
    InList,
    IsNull,
    Literal,
    Node,
    Unary,
    call_problem,
)

# Column types (as in data.schema) -> the rule's types: ints and floats are both numbers.
COLUMN_TYPES = {
    "string": "string",
    "float": "number",
    "int": "number",
    "bool": "bool",
    "timestamp": "timestamp",
    "date": "date",
}
_TEMPORAL = {"timestamp", "date"}
_ARITHMETIC = {"+", "-", "*", "/"}


def parse_moment(text: str) -> date | datetime | None:
    """Return the date or UTC timestamp that an ISO 8601 string denotes, or None if none."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    # Stored timestamps are naive UTC, so an explicit offset is converted, then dropped.
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def check_rule(node: Node, columns: Mapping[str, str]) -> list[ExpressionError]:
    """Return the rule's type errors against ``columns`` (name -> column type); [] when sound."""
    unknown = sorted({t for t in columns.values() if t not in COLUMN_TYPES})
    if unknown:
        raise ValueError(f"unsupported column types {unknown}: expected {sorted(COLUMN_TYPES)}")
    checker = _Checker(columns)
    found = checker.type_of(node)
    if found is not None and found != "bool":
        checker.fail(f"the rule must be a condition (bool), found {found}", node)
    return checker.errors


class _Checker:
    """One check: the columns, and the errors found so far.

    ``type_of`` returns None for a sub-expression whose type is unknown because of an error
    already reported, so that one mistake is reported once, not again by every enclosing node.
    """

    def __init__(self, columns: Mapping[str, str]) -> None:
        self.columns = columns
        self.errors: list[ExpressionError] = []

    def fail(self, message: str, node: Node) -> None:
        self.errors.append(ExpressionError(message, node.offset, node.length))

    def type_of(self, node: Node) -> str | None:
        match node:
            case Literal(value=value):
                return _literal_type(value)
            case Column(name=name):
                return self.column(node, name)
            case Unary(op=op, operand=operand):
                wanted = "bool" if op == "not" else "number"
                self.expect(operand, wanted, f"'{op}' needs a {wanted}")
                return wanted
            case Binary(op=op, left=left, right=right):
                wanted = "number" if op in _ARITHMETIC else "bool"
                for side in (left, right):
                    self.expect(side, wanted, f"'{op}' needs a {wanted} on each side")
                return wanted
            case Compare(op=op, left=left, right=right):
                self.compare(op, left, right, node)
                return "bool"
            case InList(operand=operand, items=items):
                for item in items:
                    self.compare("in", operand, item, item, either_way=False)
                return "bool"
            case IsNull(operand=operand):
                self.type_of(operand)
                return "bool"
            case Call(name=name, args=args):
                return self.call(node, name, args)
        raise TypeError(f"not an expression node: {node!r}")

    def column(self, node: Node, name: str) -> str | None:
        if name in self.columns:
            return COLUMN_TYPES[self.columns[name]]
        close = difflib.get_close_matches(name, self.columns, n=3)
        if close:
            hint = f" (did you mean {_either(close)}?)"
        elif len(self.columns) <= 12:
            hint = f" (expected one of {', '.join(sorted(self.columns))})"
        else:
            hint = ""
        self.fail(f"unknown column '{name}'{hint}", node)
        return None

    def expect(self, node: Node, wanted: str, needs: str) -> None:
        """Check that ``node`` has type ``wanted``; an untyped null fits anywhere."""
        found = self.type_of(node)
        if found not in (wanted, "null", None):
            self.fail(f"{needs}, found {found}", node)

    def compare(
        self, op: str, left: Node, right: Node, where: Node, either_way: bool = True
    ) -> None:
        """Check that ``left op right`` compares like with like; report at ``where``.

        A string literal beside a date or timestamp is read as one ('2024-01-31'); in a list,
        only the items are read so, as the left side's type decides what the items must be.
        """
        left_type, right_type = self.type_of(left), self.type_of(right)
        if left_type is None or right_type is None:
            return
        if "null" in (left_type, right_type):
            null = right if right_type == "null" else left
            self.fail(f"'{op}' with null is never true: expected 'is null' or 'is not null'", null)
            return
        if {left_type, right_type} <= _TEMPORAL:
            return
        if left_type == right_type:
            if left_type == "bool" and op not in ("=", "!=", "in"):
                self.fail(f"cannot order bools with '{op}': expected '=' or '!='", where)
            return
        sides = [(left_type, right, right_type)]
        if either_way:
            sides.append((right_type, left, left_type))
        for temporal, other, other_type in sides:
            if temporal in _TEMPORAL and other_type == "string" and isinstance(other, Literal):
                if parse_moment(str(other.value)) is None:
                    self.fail(
                        f"expected a {temporal} like '2024-01-31' or '2024-01-31 09:30:00',"
                        f" found '{other.value}'",
                        other,
                    )
                return
        self.fail(f"cannot compare {left_type} with {right_type}", where)

    def call(self, node: Node, name: str, args: tuple[Node, ...]) -> str | None:
        problem = call_problem(name, len(args))
        if problem:
            self.fail(problem, node)
            return None
        if name == "coalesce":
            return self.coalesce(args)
        if name == "days_since":
            found = self.type_of(args[0])
            if found not in (*_TEMPORAL, "null", None):
                self.fail(f"days_since() needs a timestamp or date, found {found}", args[0])
            return "number"
        self.expect(args[0], "string", f"{name}() needs a string")
        return "number" if name == "length" else "string"

    def coalesce(self, args: tuple[Node, ...]) -> str | None:
        """Check that the arguments share one type (nulls aside); return it."""
        common: str | None = "null"
        for arg in args:
            found = self.type_of(arg)
            if found is None or common is None:
                common = None
            elif common == "null":
                common = found
            elif found not in (common, "null"):
                self.fail(f"coalesce() arguments must all be {common}, found {found}", arg)
        return common


def _literal_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    return "string" if isinstance(value, str) else "number"


def _either(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
