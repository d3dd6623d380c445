"""Tokenizer and recursive-descent parser of entry-rule expressions (nothing is ever eval'd)."""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

from missionline.plan.expr_nodes import (
    FUNCTIONS,
    MAX_HEIGHT,
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

# Parentheses, calls and prefix operators open at once; each costs the parser about eight
# Python frames, so this keeps any input far from the recursion limit.
MAX_NESTING = 40

_KEYWORDS = {"and", "or", "not", "in", "is", "null", "true", "false"}
_OPERATORS = ("==", "!=", "<>", "<=", ">=", "=", "<", ">", "+", "-", "*", "/", "(", ")", ",")
# Comparison operators as written -> their canonical spelling in the tree.
_COMPARISONS = {
    "=": "=",
    "==": "=",
    "!=": "!=",
    "<>": "!=",
    "<": "<",
    "<=": "<=",
    ">": ">",
    ">=": ">=",
}
_WHITESPACE = " \t\r\n"
_NUMBER = re.compile(r"(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
# Characters that make a number malformed when glued to it ("12abc", "1.2.3", "1e").
_NUMBER_TAIL = re.compile(r"[A-Za-z0-9_.]+")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_ESCAPES = {"\\", "'", '"'}
_INT64_MAX = 2**63 - 1


@dataclass(frozen=True)
class Token:
    """A token: its kind, its text as written, where it starts, and its parsed value."""

    kind: str  # number, string, name, keyword, op or end
    text: str
    offset: int
    value: str | int | float | None = None

    @property
    def key(self) -> str:
        """Return what the parser matches on: lower-case keyword, operator text, else ''."""
        if self.kind == "keyword":
            return self.text.lower()
        return self.text if self.kind == "op" else ""

    def describe(self) -> str:
        """Return the token as error messages name it."""
        if self.kind == "end":
            return "end of rule"
        text = self.text if len(self.text) <= 30 else self.text[:27] + "..."
        # A string token's text already has its quotes.
        return f"string {text}" if self.kind == "string" else f"'{text}'"


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens, ending with an ``end`` token; raise ExpressionError."""
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        char = text[pos]
        if char in _WHITESPACE:
            pos += 1
        elif char in "'\"":
            tokens.append(_string(text, pos))
            pos += len(tokens[-1].text)
        elif number := _NUMBER.match(text, pos):
            tokens.append(_number(text, number))
            pos = number.end()
        elif match := _NAME.match(text, pos):
            tokens.append(_name(text, match))
            pos = match.end()
        else:
            operator = next((op for op in _OPERATORS if text.startswith(op, pos)), None)
            if operator is None:
                shown = f"'{char}'" if char.isprintable() else f"U+{ord(char):04X}"
                raise ExpressionError(f"unexpected character {shown}", pos)
            tokens.append(Token("op", operator, pos))
            pos += len(operator)
    # The end sits right after the last token, not after trailing blanks or newlines.
    tokens.append(Token("end", "", len(text.rstrip(_WHITESPACE))))
    return tokens


def _string(text: str, start: int) -> Token:
    quote = text[start]
    chars: list[str] = []
    pos = start + 1
    while pos < len(text) and text[pos] != quote:
        if text[pos] == "\\" and pos + 1 < len(text):
            if text[pos + 1] not in _ESCAPES:
                raise ExpressionError(
                    f"unknown escape '\\{text[pos + 1]}' in string (expected \\\\, \\' or \\\")",
                    pos,
                    2,
                )
            pos += 1
        chars.append(text[pos])
        pos += 1
    if pos >= len(text):
        raise ExpressionError(
            f"unterminated string: expected a closing {quote}, found end of rule",
            start,
            len(text) - start,
        )
    return Token("string", text[start : pos + 1], start, "".join(chars))


def _number(text: str, match: re.Match[str]) -> Token:
    written, start, end = match.group(), match.start(), match.end()
    if tail := _NUMBER_TAIL.match(text, end):
        stop = tail.end()
        raise ExpressionError(f"invalid number '{text[start:stop]}'", start, stop - start)
    if not written.isdigit():
        value = float(written)
        if math.isinf(value):
            raise ExpressionError(f"number too large: found {written}", start, end - start)
        return Token("number", written, start, value)
    # The length is checked first: Python refuses int() of a string of thousands of digits.
    if len(written.lstrip("0")) > len(str(_INT64_MAX)) or int(written) > _INT64_MAX:
        raise ExpressionError(
            f"integer too large: expected at most {_INT64_MAX}, found {written}", start, end - start
        )
    return Token("number", written, start, int(written))


def _name(text: str, match: re.Match[str]) -> Token:
    written, start, end = match.group(), match.start(), match.end()
    if written.count(".") > 1:
        raise ExpressionError(
            f"expected a column name like accounts.employees, found '{written}'", start, end - start
        )
    if text.startswith(".", end):
        raise ExpressionError(f"expected a column name after '{written}.'", end)
    return Token("keyword" if written.lower() in _KEYWORDS else "name", written, start)


def parse_rule(text: str) -> Node:
    """Parse a rule's text into its syntax tree; raise ExpressionError on any mistake."""
    tokens = tokenize(text)
    if tokens[0].kind == "end":
        raise ExpressionError("empty rule: expected a condition like lead_score >= 60", 0)
    node = _Parser(tokens).parse()
    _check_height(node)
    return node


class _Parser:
    """One parse: the tokens, a cursor, and how deeply nested the cursor is."""

    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.nesting = 0

    def parse(self) -> Node:
        node = self.or_()
        token = self.peek()
        if token.key == ")":
            raise ExpressionError("unexpected ')': no '(' to close", token.offset)
        if token.kind != "end":
            raise self.error(f"expected an operator or end of rule, found {token.describe()}")
        return node

    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.pos + ahead, len(self.tokens) - 1)]

    def advance(self) -> Token:
        token = self.peek()
        self.pos = min(self.pos + 1, len(self.tokens) - 1)
        return token

    def error(self, message: str) -> ExpressionError:
        token = self.peek()
        return ExpressionError(message, token.offset, len(token.text))

    @contextmanager
    def nested(self, opener: Token) -> Iterator[None]:
        self.nesting += 1
        if self.nesting > MAX_NESTING:
            raise ExpressionError(
                f"rule nests too deeply: expected at most {MAX_NESTING} levels of parentheses,"
                " calls and prefix operators",
                opener.offset,
                len(opener.text),
            )
        try:
            yield
        finally:
            self.nesting -= 1

    def chain(self, operators: set[str], operand: Callable[[], Node]) -> Node:
        left = operand()
        while self.peek().key in operators:
            op = self.advance().key
            right = operand()
            left = Binary(op, left, right, offset=left.offset, length=_end(right) - left.offset)
        return left

    def or_(self) -> Node:
        return self.chain({"or"}, self.and_)

    def and_(self) -> Node:
        return self.chain({"and"}, self.not_)

    def not_(self) -> Node:
        if self.peek().key != "not":
            return self.comparison()
        token = self.advance()
        with self.nested(token):
            operand = self.not_()
        return Unary("not", operand, offset=token.offset, length=_end(operand) - token.offset)

    def comparison(self) -> Node:
        left = self.additive()
        node = self.comparison_tail(left)
        token = self.peek()
        if node is not left and self.at_comparison():
            raise self.error(
                "comparisons cannot be chained: expected 'and' or 'or' between them,"
                f" found {token.describe()}"
            )
        return node

    def at_comparison(self) -> bool:
        key = self.peek().key
        return key in _COMPARISONS or key in ("is", "in") or self.at_not_in()

    def at_not_in(self) -> bool:
        return (self.peek().key, self.peek(1).key) == ("not", "in")

    def comparison_tail(self, left: Node) -> Node:
        """Parse the comparison that follows ``left``, or return ``left`` if none follows."""
        token = self.peek()
        if token.key in _COMPARISONS:
            self.advance()
            right = self.additive()
            return _span(Compare(_COMPARISONS[token.key], left, right), left, _end(right))
        if token.key == "is":
            self.advance()
            negated = self.peek().key == "not"
            if negated:
                self.advance()
            if self.peek().key != "null":
                wanted = "'null'" if negated else "'null' or 'not null'"
                raise self.error(f"expected {wanted} after 'is', found {self.peek().describe()}")
            return _span(IsNull(left, negated), left, _end(self.advance()))
        if token.key == "in" or self.at_not_in():
            negated = self.advance().key == "not"
            if negated:
                self.advance()
            if self.peek().key != "(":
                raise self.error(f"'in' needs a parenthesised list, found {self.peek().describe()}")
            if self.peek(1).key == ")":
                self.advance()
                raise self.error("expected a value in the list after '(', found ')'")
            items, end = self.sequence()
            return _span(InList(left, tuple(items), negated), left, end)
        if token.key == "not":
            raise ExpressionError(
                f"expected 'in' after 'not', found {self.peek(1).describe()}",
                token.offset,
                len(token.text),
            )
        return left

    def additive(self) -> Node:
        return self.chain({"+", "-"}, self.multiplicative)

    def multiplicative(self) -> Node:
        return self.chain({"*", "/"}, self.unary)

    def unary(self) -> Node:
        if self.peek().key != "-":
            return self.primary()
        token = self.advance()
        with self.nested(token):
            operand = self.unary()
        return Unary("-", operand, offset=token.offset, length=_end(operand) - token.offset)

    def primary(self) -> Node:
        token = self.peek()
        if token.kind in ("number", "string"):
            self.advance()
            return Literal(token.value, offset=token.offset, length=len(token.text))
        if token.key in ("true", "false", "null"):
            self.advance()
            value = {"true": True, "false": False, "null": None}[token.key]
            return Literal(value, offset=token.offset, length=len(token.text))
        if token.kind == "name" and self.peek(1).key == "(":
            return self.call()
        if token.kind == "name":
            self.advance()
            return Column(token.text, offset=token.offset, length=len(token.text))
        if token.key == "(":
            self.advance()
            with self.nested(token):
                inner = self.or_()
            close = self.closing(token, "')'")
            # The span takes in the parentheses, so that errors underline what the user wrote.
            return replace(inner, offset=token.offset, length=_end(close) - token.offset)
        previous = self.tokens[self.pos - 1].text if self.pos else ""
        after = f" after '{previous}'" if previous else ""
        raise self.error(f"expected a value{after}, found {token.describe()}")

    def call(self) -> Node:
        token = self.advance()
        name = token.text.lower()
        if name not in FUNCTIONS:
            raise ExpressionError(
                f"unknown function '{token.text}'{_suggest(name)}", token.offset, len(token.text)
            )
        args, end = self.sequence()
        length = end - token.offset
        problem = call_problem(name, len(args))
        if problem:
            raise ExpressionError(problem, token.offset, length)
        return Call(name, tuple(args), offset=token.offset, length=length)

    def sequence(self) -> tuple[list[Node], int]:
        """Parse ``(item, ...)``, possibly empty; return the items and the offset after ')'."""
        opener = self.advance()
        items: list[Node] = []
        with self.nested(opener):
            if self.peek().key != ")":
                items.append(self.or_())
                while self.peek().key == ",":
                    self.advance()
                    items.append(self.or_())
        return items, _end(self.closing(opener, "',' or ')'"))

    def closing(self, opener: Token, wanted: str) -> Token:
        """Consume the ')' matching ``opener``; point at the opener if the rule ends first."""
        token = self.peek()
        if token.key == ")":
            return self.advance()
        if token.kind == "end":
            raise ExpressionError(
                f"'(' is never closed: expected {wanted}, found end of rule", opener.offset
            )
        raise self.error(f"expected {wanted}, found {token.describe()}")


def _end(item: Node | Token) -> int:
    return item.offset + (item.length if isinstance(item, Node) else len(item.text))


def _span(node: Node, first: Node, end: int) -> Node:
    return replace(node, offset=first.offset, length=end - first.offset)


def _suggest(name: str) -> str:
    close = difflib.get_close_matches(name, FUNCTIONS, n=1)
    if close:
        return f" (did you mean {close[0]}?)"
    return f" (expected one of {', '.join(FUNCTIONS)})"


def _check_height(root: Node) -> None:
    """Refuse trees deeper than MAX_HEIGHT, measured without recursion."""
    heights: dict[int, int] = {}
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if not children_done:
            stack.append((node, True))
            stack.extend((child, False) for child in node.children())
            continue
        height = 1 + max((heights[id(child)] for child in node.children()), default=0)
        if height > MAX_HEIGHT:
            raise ExpressionError(
                f"rule is too deeply nested: expected at most {MAX_HEIGHT} levels of operators",
                node.offset,
                node.length,
            )
        heights[id(node)] = height
