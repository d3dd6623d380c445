"""The syntax tree of entry-rule expressions, their errors, and the canonical rendering.

Nodes compare equal when their structure is equal: ``offset`` and ``length`` locate a node in
the text it was parsed from and are left out of ``==`` so that ``parse(render(n)) == n``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

# Deeper trees are refused by the parser: checking, compiling and SQL generation all recurse,
# and this keeps them far from Python's recursion limit.
MAX_HEIGHT = 100

# Number of arguments each function takes: (minimum, maximum or None for any number).
FUNCTIONS: dict[str, tuple[int, int | None]] = {
    "coalesce": (1, None),
    "days_since": (1, 1),
    "length": (1, 1),
    "lower": (1, 1),
    "upper": (1, 1),
}

LiteralValue = str | int | float | bool | None


class ExpressionError(Exception):
    """A mistake in a rule: what was expected and found, and where in the rule's text."""

    def __init__(self, message: str, offset: int, length: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.offset = max(0, offset)
        self.length = max(1, length)

    def caret(self, text: str) -> str:
        """Return the rule's line holding the error and a line of ``^`` under the error's span."""
        offset = min(self.offset, len(text))
        start = text.rfind("\n", 0, offset) + 1
        end = text.find("\n", offset)
        line = text[start : len(text) if end < 0 else end].rstrip("\r")
        column = offset - start
        # Tabs are copied so that the carets line up however wide the terminal draws a tab.
        indent = "".join("\t" if ch == "\t" else " " for ch in line[:column])
        width = max(1, min(self.length, len(line) - column))
        return f"{line}\n{indent}{'^' * width}"


def call_problem(name: str, count: int) -> str | None:
    """Return why calling function ``name`` with ``count`` arguments is wrong, or None if fine."""
    if name not in FUNCTIONS:
        return f"unknown function '{name}' (expected one of {', '.join(FUNCTIONS)})"
    least, most = FUNCTIONS[name]
    if count < least or (most is not None and count > most):
        wanted = f"at least {least}" if most is None else str(least)
        plural = "" if least == 1 else "s"
        return f"{name}() takes {wanted} argument{plural}, found {count}"
    return None


@dataclass(frozen=True)
class Node:
    """A node of a rule's syntax tree; ``offset`` and ``length`` give its span in the text."""

    offset: int = field(default=0, compare=False, kw_only=True)
    length: int = field(default=1, compare=False, kw_only=True)

    def children(self) -> tuple[Node, ...]:
        """Return the node's direct sub-expressions, left to right."""
        return ()


@dataclass(frozen=True)
class Literal(Node):
    """A constant: string, number (never negative: ``-1`` is a Unary), bool, or None for null."""

    value: LiteralValue


@dataclass(frozen=True)
class Column(Node):
    """A column, by name, unqualified (``employees``) or qualified (``accounts.employees``)."""

    name: str


@dataclass(frozen=True)
class Unary(Node):
    """A prefix operator: ``not`` or ``-``."""

    op: str
    operand: Node

    def children(self) -> tuple[Node, ...]:
        """Return the operand."""
        return (self.operand,)


@dataclass(frozen=True)
class Binary(Node):
    """A left-associative infix operator: ``and``, ``or``, ``+``, ``-``, ``*`` or ``/``."""

    op: str
    left: Node
    right: Node

    def children(self) -> tuple[Node, ...]:
        """Return both operands."""
        return (self.left, self.right)


@dataclass(frozen=True)
class Compare(Node):
    """A comparison; ``op`` is one of ``=``, ``!=``, ``<``, ``<=``, ``>``, ``>=``."""

    op: str
    left: Node
    right: Node

    def children(self) -> tuple[Node, ...]:
        """Return both operands."""
        return (self.left, self.right)


@dataclass(frozen=True)
class InList(Node):
    """``operand in (items...)``, or ``not in`` when ``negated``."""

    operand: Node
    items: tuple[Node, ...]
    negated: bool = False

    def children(self) -> tuple[Node, ...]:
        """Return the operand, then the list's items."""
        return (self.operand, *self.items)


@dataclass(frozen=True)
class IsNull(Node):
    """``operand is null``, or ``is not null`` when ``negated``."""

    operand: Node
    negated: bool = False

    def children(self) -> tuple[Node, ...]:
        """Return the operand."""
        return (self.operand,)


@dataclass(frozen=True)
class Call(Node):
    """A call of a built-in function; ``name`` is lower case."""

    name: str
    args: tuple[Node, ...]

    def children(self) -> tuple[Node, ...]:
        """Return the arguments."""
        return self.args


def walk(node: Node) -> Iterator[Node]:
    """Yield ``node`` and all its descendants (without recursion, whatever the depth)."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(current.children()))


def referenced_columns(node: Node) -> set[str]:
    """Return the names of the columns that the rule reads, as written in the rule."""
    return {n.name for n in walk(node) if isinstance(n, Column)}


# Binding strength, loosest first; render() adds parentheses where a child binds looser.
OR, AND, NOT, COMPARE, ADD, MULTIPLY, NEGATE, ATOM = range(8)
_BINARY_PRECEDENCE = {"or": OR, "and": AND, "+": ADD, "-": ADD, "*": MULTIPLY, "/": MULTIPLY}


def precedence(node: Node) -> int:
    """Return how tightly ``node``'s outermost operator binds."""
    if isinstance(node, Binary):
        return _BINARY_PRECEDENCE[node.op]
    if isinstance(node, Unary):
        return NOT if node.op == "not" else NEGATE
    if isinstance(node, Compare | InList | IsNull):
        return COMPARE
    return ATOM


def render(node: Node) -> str:
    """Return the canonical text of ``node``, which parses back to an equal node."""
    match node:
        case Literal(value=value):
            return _render_literal(value)
        case Column(name=name):
            return name
        case Unary(op="not", operand=operand):
            return f"not {_wrap(operand, NOT)}"
        case Unary(op=op, operand=operand):
            text = _wrap(operand, NEGATE)
            # "- -x", not "--x" or "-(-x)": the parentheses would count against MAX_NESTING.
            return f"{op} {text}" if text.startswith("-") else f"{op}{text}"
        case Binary(op=op, left=left, right=right):
            level = _BINARY_PRECEDENCE[op]
            # The right operand needs parentheses at equal strength: operators associate left.
            return f"{_wrap(left, level)} {op} {_wrap(right, level + 1)}"
        case Compare(op=op, left=left, right=right):
            return f"{_wrap(left, ADD)} {op} {_wrap(right, ADD)}"
        case InList(operand=operand, items=items, negated=negated):
            keyword = "not in" if negated else "in"
            return f"{_wrap(operand, ADD)} {keyword} ({', '.join(map(render, items))})"
        case IsNull(operand=operand, negated=negated):
            return f"{_wrap(operand, ADD)} is {'not null' if negated else 'null'}"
        case Call(name=name, args=args):
            return f"{name}({', '.join(map(render, args))})"
    raise TypeError(f"not an expression node: {node!r}")


def _wrap(node: Node, level: int) -> str:
    text = render(node)
    return text if precedence(node) >= level else f"({text})"


def _render_literal(value: LiteralValue) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    # repr() is the shortest text that reads back as the same float ('0.1', '1e-05').
    return repr(value)
