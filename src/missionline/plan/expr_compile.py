"""Compilation of type-checked entry rules to Ibis expressions, evaluated in the database."""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any, cast

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

from missionline.metrics.portable import seconds_between
from missionline.plan.expr_nodes import (
    COMPARE,
    Binary,
    Call,
    Column,
    Compare,
    InList,
    IsNull,
    Literal,
    Node,
    Unary,
    precedence,
)
from missionline.plan.expr_types import check_rule, parse_moment

_SECONDS_PER_DAY = 86_400
_ORDER: dict[str, Callable[[Any, Any], ir.BooleanValue]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def compile_rule(
    node: Node, columns: Mapping[str, ir.Value], at: ir.TimestampValue
) -> ir.BooleanValue:
    """Return the rule as an Ibis condition, null counting as false; raise if it mistypes.

    The rule is checked first against the columns' own types, so the database never sees an
    ill-typed rule; the first ExpressionError found is raised.
    """
    types = {name: kind for name, value in columns.items() if (kind := _kind(value.type()))}
    errors = check_rule(node, types)
    if errors:
        raise errors[0]
    condition = cast(ir.BooleanValue, _Compiler(columns, at).value(node))
    return cast(ir.BooleanValue, condition.fill_null(False))


def _kind(dtype: dt.DataType) -> str | None:
    """Return the column type (as in data.schema) of an Ibis type, or None if rules can't use it."""
    if dtype.is_string():
        return "string"
    if dtype.is_boolean():
        return "bool"
    if dtype.is_integer():
        return "int"
    if dtype.is_floating() or dtype.is_decimal():
        return "float"
    if dtype.is_timestamp():
        return "timestamp"
    return "date" if dtype.is_date() else None


class _Compiler:
    """One compilation: the columns by name and the moment each record entered the stage."""

    def __init__(self, columns: Mapping[str, ir.Value], at: ir.TimestampValue) -> None:
        self.columns = columns
        self.at = at

    def value(self, node: Node) -> ir.Value:
        match node:
            case Literal(value=None):
                return ibis.null()
            case Literal(value=bool() as flag):
                return ibis.literal(flag, type=dt.boolean)
            case Literal(value=int() as number):
                return ibis.literal(number, type=dt.int64)
            case Literal(value=value):
                return ibis.literal(value)
            case Column(name=name):
                return self.columns[name]
            case Unary(op="not", operand=operand):
                return ~self.boolean(operand)
            case Unary(operand=operand):
                return -self.number(operand)
            case Binary(op=op, left=left, right=right):
                return self.binary(op, left, right)
            case Compare(op=op, left=left, right=right):
                a, b = self.aligned((left, right))
                return _ORDER[op](a, b)
            case InList(operand=operand, items=items, negated=negated):
                subject, *values = self.aligned((operand, *items))
                return subject.notin(values) if negated else subject.isin(values)
            case IsNull(operand=operand, negated=negated):
                inner = self.operand(operand)
                return inner.notnull() if negated else inner.isnull()
            case Call(name=name, args=args):
                return self.call(name, args)
        raise TypeError(f"not an expression node: {node!r}")

    def boolean(self, node: Node) -> ir.BooleanValue:
        return cast(ir.BooleanValue, _typed(self.value(node), dt.boolean))

    def number(self, node: Node) -> ir.NumericValue:
        # Arithmetic runs in float64: ints and floats mix freely, and no int64 overflow
        # can abort the query for every record.
        return cast(ir.NumericValue, self.value(node).cast(dt.float64))

    def string(self, node: Node) -> ir.StringValue:
        return cast(ir.StringValue, _typed(self.value(node), dt.string))

    def binary(self, op: str, left: Node, right: Node) -> ir.Value:
        if op in ("and", "or"):
            a, b = self.boolean(left), self.boolean(right)
            return a & b if op == "and" else a | b
        x, y = self.number(left), self.number(right)
        if op == "+":
            return x + y
        if op == "-":
            return x - y
        if op == "*":
            return x * y
        # Division by zero is null (so "not met"), the same on every backend.
        return x / y.nullif(0)

    def aligned(self, nodes: tuple[Node, ...]) -> list[ir.Value]:
        """Compile values that are compared with each other, made comparable as the checker allows.

        A string literal among dates or timestamps denotes one; dates among timestamps are
        read as their midnight.
        """
        values = [self.operand(node) for node in nodes]
        if any(value.type().is_temporal() for value in values):
            values = [_moment(node, value) for node, value in zip(nodes, values, strict=True)]
            if any(value.type().is_timestamp() for value in values):
                values = [v.cast(dt.timestamp) if v.type().is_date() else v for v in values]
        return values

    def operand(self, node: Node) -> ir.Value:
        """Compile an operand of a comparison, 'in' or 'is null', keeping a condition whole.

        ibis 12 prints a condition there without its parentheses: ``(not b) = c`` comes out as
        ``NOT (b) = c``, which SQL reads as ``not (b = c)``. A one-argument COALESCE is the
        identity, and is always printed as a call, so the condition stays one operand.
        """
        value = self.value(node)
        return ibis.coalesce(value) if precedence(node) <= COMPARE else value

    def call(self, name: str, args: tuple[Node, ...]) -> ir.Value:
        if name == "coalesce":
            values = [self.value(arg) for arg in args]
            common = next((v.type() for v in values if not v.type().is_null()), dt.null)
            return ibis.coalesce(*(_typed(v, common) for v in values))
        if name == "days_since":
            moment = cast(ir.TimestampValue, self.value(args[0]).cast(dt.timestamp))
            return seconds_between(moment, self.at) / _SECONDS_PER_DAY
        text = self.string(args[0])
        if name == "length":
            return text.length()
        return text.lower() if name == "lower" else text.upper()


def _typed(value: ir.Value, dtype: dt.DataType) -> ir.Value:
    """Give an untyped null literal the type its place needs; leave other values alone."""
    return value.cast(dtype) if value.type().is_null() else value


def _moment(node: Node, value: ir.Value) -> ir.Value:
    if isinstance(node, Literal) and isinstance(node.value, str):
        return ibis.literal(parse_moment(node.value))
    return value
