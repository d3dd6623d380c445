"""Entry-rule expressions: parsing, errors with carets, type checking, and compilation to Ibis.

Compiled rules run on DuckDB and are compared, row by row, with a plain-Python evaluator of the
syntax tree written here with SQL's three-valued logic.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any

import ibis
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from missionline.plan.expressions import (
    FUNCTIONS,
    MAX_HEIGHT,
    MAX_NESTING,
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
    check_rule,
    compile_rule,
    parse_rule,
    referenced_columns,
    render,
)

# --------------------------------------------------------------------------------------------
# Parsing


def sexpr(node: Node) -> str:
    """Return ``node`` fully parenthesised, prefix style, to show the tree's shape."""
    match node:
        case Literal(value=value):
            return repr(value)
        case Column(name=name):
            return name
        case Unary(op=op, operand=operand):
            return f"({op} {sexpr(operand)})"
        case Binary(op=op, left=left, right=right) | Compare(op=op, left=left, right=right):
            return f"({op} {sexpr(left)} {sexpr(right)})"
        case InList(operand=operand, items=items, negated=negated):
            listed = " ".join(map(sexpr, items))
            return f"({'not in' if negated else 'in'} {sexpr(operand)} [{listed}])"
        case IsNull(operand=operand, negated=negated):
            return f"({'is not null' if negated else 'is null'} {sexpr(operand)})"
        case Call(name=name, args=args):
            return f"({name} {' '.join(map(sexpr, args))})"
    raise AssertionError(node)


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ("a or b and c", "(or a (and b c))"),
        ("a and b or c", "(or (and a b) c)"),
        ("a or b or c", "(or (or a b) c)"),
        ("a and b and c", "(and (and a b) c)"),
        ("not a and b", "(and (not a) b)"),
        ("not a = 1", "(not (= a 1))"),
        ("not not a", "(not (not a))"),
        ("(a or b) and c", "(and (or a b) c)"),
        ("a + b * c", "(+ a (* b c))"),
        ("(a + b) * c", "(* (+ a b) c)"),
        ("a - b - c", "(- (- a b) c)"),
        ("a / b / c", "(/ (/ a b) c)"),
        ("a - (b - c)", "(- a (- b c))"),
        ("-a * b", "(* (- a) b)"),
        ("-(a * b)", "(- (* a b))"),
        ("- -a", "(- (- a))"),
        ("a + b > c * d", "(> (+ a b) (* c d))"),
        ("a = 1 and b <> 2 or c != 3", "(or (and (= a 1) (!= b 2)) (!= c 3))"),
        ("a == 1", "(= a 1)"),
        ("a < 1", "(< a 1)"),
        ("a <= 1", "(<= a 1)"),
        ("a > 1", "(> a 1)"),
        ("a >= 1", "(>= a 1)"),
        ("(a = b) = true", "(= (= a b) True)"),
        ("a in (1, 2)", "(in a [1 2])"),
        ("a + b in (1, c - 1)", "(in (+ a b) [1 (- c 1)])"),
        ("a not in ('x')", "(not in a ['x'])"),
        ("not a in (1)", "(not (in a [1]))"),
        ("a is null", "(is null a)"),
        ("a + 1 is not null", "(is not null (+ a 1))"),
        ("lower(a) = upper(b)", "(= (lower a) (upper b))"),
        ("length(a) > 3", "(> (length a) 3)"),
        ("coalesce(a, b, 0) > 1", "(> (coalesce a b 0) 1)"),
        ("coalesce(a)", "(coalesce a)"),
        ("days_since(t) < 30", "(< (days_since t) 30)"),
        ("accounts.employees >= 200", "(>= accounts.employees 200)"),
        ("A AND b Or NOT c", "(or (and A b) (not c))"),
        ("x IS NOT NULL and y Not In (1)", "(and (is not null x) (not in y [1]))"),
        ("LOWER(x) = 'a' and Days_Since(t) > 1", "(and (= (lower x) 'a') (> (days_since t) 1))"),
        ("a = TRUE or b = False or c is NuLL", "(or (or (= a True) (= b False)) (is null c))"),
        ("  a\n\tand b  \n", "(and a b)"),
    ],
)
def test_parse_shape(text: str, tree: str) -> None:
    """Operators bind by precedence, associate to the left, and keywords ignore case."""
    assert sexpr(parse_rule(text)) == tree


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("42", 42),
        ("1.5", 1.5),
        (".5", 0.5),
        ("1e3", 1000.0),
        ("2E-2", 0.02),
        ("'plain'", "plain"),
        ('"double"', "double"),
        ("'it\\'s'", "it's"),
        ('"say \\"hi\\""', 'say "hi"'),
        ("'back\\\\slash'", "back\\slash"),
        ("'a \"b\"'", 'a "b"'),
        ("\"a 'b'\"", "a 'b'"),
        ("''", ""),
        ("TRUE", True),
        ("false", False),
        ("Null", None),
    ],
)
def test_literals(text: str, value: object) -> None:
    """Numbers, strings with either quote and escapes, booleans and null parse to their values."""
    node = parse_rule(text)
    assert isinstance(node, Literal)
    assert node.value == value and type(node.value) is type(value)


def test_spans_cover_the_text() -> None:
    """Each node records where it is; parenthesised ones include their parentheses."""
    text = "lead_score >= 60 and (employees > 5) and lower(x) in ('a')"
    node = parse_rule(text)
    assert isinstance(node, Binary) and isinstance(node.left, Binary)
    spans = [text[n.offset : n.offset + n.length] for n in (node.left.right, node.right)]
    assert spans == ["(employees > 5)", "lower(x) in ('a')"]
    assert (node.offset, node.length) == (0, len(text))


def test_referenced_columns() -> None:
    """The columns a rule reads are listed once each, qualified names as written."""
    node = parse_rule("a > 1 and coalesce(accounts.b, a) in (c, 2) or days_since(d) is null")
    assert referenced_columns(node) == {"a", "accounts.b", "c", "d"}


def test_render_is_canonical() -> None:
    """Rendering normalises spelling and keeps only the parentheses the tree needs."""
    text = 'NOT (a == 1) AND (b <> "x" OR c IS NOT NULL) and (d - (e - -f)) * 2 > 0'
    canonical = "not a = 1 and (b != 'x' or c is not null) and (d - (e - -f)) * 2 > 0"
    assert render(parse_rule(text)) == canonical


def caret_of(text: str) -> tuple[str, str]:
    """Parse ``text`` expecting an error; return its message and caret rendering."""
    with pytest.raises(ExpressionError) as caught:
        parse_rule(text)
    return caught.value.message, caught.value.caret(text)


@pytest.mark.parametrize(
    ("text", "message", "caret"),
    [
        ("", "empty rule: expected a condition like lead_score >= 60", "^"),
        ("score >= 60 and", "expected a value after 'and', found end of rule", "               ^"),
        ("(a = 1 or b = 2", "'(' is never closed: expected ')', found end of rule", "^"),
        ("(a = 1 or b = 2 c", "expected ')', found 'c'", "                ^"),
        ("a = 1) or b = 2", "unexpected ')': no '(' to close", "     ^"),
        ("a in (1, 2", "'(' is never closed: expected ',' or ')', found end of rule", "     ^"),
        ("a = 1 +", "expected a value after '+', found end of rule", "       ^"),
        ("a = * 2", "expected a value after '=', found '*'", "    ^"),
        (
            "foo(a) > 1",
            "unknown function 'foo' (expected one of coalesce, days_since, length, lower, upper)",
            "^^^",
        ),
        ("lowr(s) = 'x'", "unknown function 'lowr' (did you mean lower?)", "^^^^"),
        ("lower(a, b) = 'x'", "lower() takes 1 argument, found 2", "^^^^^^^^^^^"),
        ("coalesce() = 1", "coalesce() takes at least 1 argument, found 0", "^^^^^^^^^^"),
        ("a @ 1", "unexpected character '@'", "  ^"),
        ("a = 1 ! b", "unexpected character '!'", "      ^"),
        ("s = 'abc", "unterminated string: expected a closing ', found end of rule", "    ^^^^"),
        ("s = 'a\\qb'", "unknown escape '\\q' in string (expected \\\\, \\' or \\\")", "      ^^"),
        (
            "1 < a < 3",
            "comparisons cannot be chained: expected 'and' or 'or' between them, found '<'",
            "      ^",
        ),
        (
            "a is null = true",
            "comparisons cannot be chained: expected 'and' or 'or' between them, found '='",
            "          ^",
        ),
        ("s in 'a'", "'in' needs a parenthesised list, found string 'a'", "     ^^^"),
        ("s in ()", "expected a value in the list after '(', found ')'", "      ^"),
        ("a is 5", "expected 'null' or 'not null' after 'is', found '5'", "     ^"),
        ("a is not 5", "expected 'null' after 'is', found '5'", "         ^"),
        ("a not b", "expected 'in' after 'not', found 'b'", "  ^^^"),
        ("a = 1 b = 2", "expected an operator or end of rule, found 'b'", "      ^"),
        ("a = 12abc", "invalid number '12abc'", "    ^^^^^"),
        ("a = 1.2.3", "invalid number '1.2.3'", "    ^^^^^"),
        ("a.b.c = 1", "expected a column name like accounts.employees, found 'a.b.c'", "^^^^^"),
        ("accounts. = 1", "expected a column name after 'accounts.'", "        ^"),
        (
            "a = 99999999999999999999",
            "integer too large: expected at most 9223372036854775807, found 99999999999999999999",
            "    " + "^" * 20,
        ),
        ("a = 1e999", "number too large: found 1e999", "    ^^^^^"),
    ],
)
def test_parse_errors(text: str, message: str, caret: str) -> None:
    """Broken rules fail with what was expected and found, located by a caret line."""
    assert caret_of(text) == (message, f"{text}\n{caret}")


@pytest.mark.parametrize(
    ("text", "caret"),
    [
        ("a = 1 and\n\tb @ 2", "\tb @ 2\n\t  ^"),
        ("score >= 60 and\n", "score >= 60 and\n               ^"),
        ("  \n", "  \n^"),
        ("s = 'multi\nline", "s = 'multi\n    ^^^^^^"),
    ],
)
def test_caret_shows_the_offending_line(text: str, caret: str) -> None:
    """In a rule of several lines the caret lines show only the line at fault, tabs kept."""
    assert caret_of(text)[1] == caret


def test_error_is_its_message() -> None:
    """An ExpressionError prints as its message and always spans at least one character."""
    error = ExpressionError("boom", 3, 0)
    assert (str(error), error.offset, error.length) == ("boom", 3, 1)


def test_too_deep_nesting_is_an_error() -> None:
    """Deep nesting fails with a clear error, not a RecursionError."""
    depth = MAX_NESTING + 1
    for text in ("(" * depth + "a" + ")" * depth, "not " * 5000 + "a", "-" * 5000 + "1 > 0"):
        message, _ = caret_of(text)
        assert message.startswith("rule nests too deeply")
    message, _ = caret_of(" + ".join(["a"] * 500) + " > 0")
    assert message.startswith("rule is too deeply nested")


# --------------------------------------------------------------------------------------------
# Type checking

COLUMN_TYPES = {
    "lead_score": "float",
    "employees": "int",
    "accounts.employees": "int",
    "segment": "string",
    "is_partner": "bool",
    "created_at": "timestamp",
    "signed_on": "date",
}


def problems(text: str) -> list[tuple[str, str]]:
    """Return each type error of ``text`` with the text it underlines."""
    return [
        (e.message, text[e.offset : e.offset + e.length])
        for e in check_rule(parse_rule(text), COLUMN_TYPES)
    ]


@pytest.mark.parametrize(
    "text",
    [
        "lead_score >= 60 and employees >= 200 and segment in ('computing', 'communications')",
        "accounts.employees + lead_score * 2 > 10 or not is_partner",
        "created_at >= '2024-01-01' and signed_on < created_at and signed_on != '2024-02-01 10:00'",
        "days_since(created_at) < 30.5 and days_since(signed_on) > 1",
        "coalesce(segment, 'none') = 'none' and coalesce(lead_score, employees, null) > 0",
        "is_partner = true and is_partner != (employees > 5) and is_partner in (false)",
        "length(lower(segment)) > 3 and upper(segment) is not null and segment < 'm'",
        "(is_partner or null) and not null is null",
    ],
)
def test_well_typed_rules(text: str) -> None:
    """Rules that compare like with like and yield a condition have no type errors."""
    assert problems(text) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "lead_scroe >= 60",
            [("unknown column 'lead_scroe' (did you mean lead_score?)", "lead_scroe")],
        ),
        (
            "employes > 1",
            [
                (
                    "unknown column 'employes' (did you mean employees or accounts.employees?)",
                    "employes",
                )
            ],
        ),
        (
            "zzz > 1",
            [
                (
                    "unknown column 'zzz' (expected one of accounts.employees, created_at,"
                    " employees, is_partner, lead_score, segment, signed_on)",
                    "zzz",
                )
            ],
        ),
        ("segment >= 60", [("cannot compare string with number", "segment >= 60")]),
        ("segment + 1 > 2", [("'+' needs a number on each side, found string", "segment")]),
        ("-segment > 2", [("'-' needs a number, found string", "segment")]),
        ("not employees", [("'not' needs a bool, found number", "employees")]),
        (
            "employees > 1 and segment",
            [("'and' needs a bool on each side, found string", "segment")],
        ),
        (
            "is_partner < true",
            [("cannot order bools with '<': expected '=' or '!='", "is_partner < true")],
        ),
        ("segment in ('a', 2)", [("cannot compare string with number", "2")]),
        ("'2024-01-01' in (created_at)", [("cannot compare string with timestamp", "created_at")]),
        (
            "created_at > segment",
            [("cannot compare timestamp with string", "created_at > segment")],
        ),
        (
            "created_at > 'last week'",
            [
                (
                    "expected a timestamp like '2024-01-31' or '2024-01-31 09:30:00',"
                    " found 'last week'",
                    "'last week'",
                )
            ],
        ),
        (
            "lead_score = null",
            [("'=' with null is never true: expected 'is null' or 'is not null'", "null")],
        ),
        (
            "days_since(segment) > 1",
            [("days_since() needs a timestamp or date, found string", "segment")],
        ),
        ("length(employees) > 1", [("length() needs a string, found number", "employees")]),
        (
            "coalesce(segment, 1) = 'a'",
            [("coalesce() arguments must all be string, found number", "1")],
        ),
        (
            "lead_score + 1",
            [("the rule must be a condition (bool), found number", "lead_score + 1")],
        ),
        ("null", [("the rule must be a condition (bool), found null", "null")]),
        (
            "lead_scor > 1 and segmnt = 1",
            [
                ("unknown column 'lead_scor' (did you mean lead_score?)", "lead_scor"),
                ("unknown column 'segmnt' (did you mean segment?)", "segmnt"),
            ],
        ),
    ],
)
def test_type_errors(text: str, expected: list[tuple[str, str]]) -> None:
    """Unknown columns get suggestions; mismatches are reported once, at the sub-expression."""
    assert problems(text) == expected


def test_hand_built_call_is_checked() -> None:
    """A tree built by hand with a bad call is reported, not trusted."""
    node = Compare("=", Call("reverse", (Column("segment"),)), Literal("x"))
    assert [e.message for e in check_rule(node, COLUMN_TYPES)] == [
        "unknown function 'reverse' (expected one of coalesce, days_since, length, lower, upper)"
    ]


# --------------------------------------------------------------------------------------------
# Compilation, against an independent evaluator


def stamps(*texts: str | None) -> pd.Series:
    """Return timestamps parsed from ``texts``, None for missing."""
    return pd.to_datetime(pd.Series(texts, dtype=object))


TABLE = pd.DataFrame(
    {
        "id": range(8),
        "segment": ["computing", "communications", None, "Retail", "computing", "", "retail", None],
        "lead_score": [75.0, 59.5, None, 60.0, 88.25, 0.0, 42.0, 61.0],
        "employees": [250, 180, 1200, 200, 35, 0, 5000, 75],
        "is_partner": [True, False, None, True, False, None, True, False],
        "created_at": stamps(
            "2024-01-01 08:00:00",
            "2024-02-10 00:00:00",
            None,
            "2023-12-31 23:59:59",
            "2024-03-01 12:30:00",
            None,
            "2024-01-15 00:00:00",
            "2024-02-29 18:00:00",
        ),
        "signed_on": [
            date(2024, 1, 1),
            None,
            date(2024, 2, 1),
            date(2023, 11, 30),
            None,
            date(2024, 3, 1),
            date(2024, 1, 15),
            date(2024, 2, 29),
        ],
        # The moment each record entered the stage: days_since() counts up to it.
        "entered_at": stamps(
            "2024-01-20 08:00:00",
            "2024-02-11 00:00:00",
            "2024-03-01 00:00:00",
            "2024-01-30 23:59:59",
            "2024-03-02 00:00:00",
            "2024-03-05 06:00:00",
            "2024-04-15 00:00:00",
            "2024-03-31 18:00:00",
        ),
    }
)
# Qualified names resolve to the same columns, as when a rule joins people to accounts.
QUALIFIED = {"accounts.employees": "employees", "accounts.segment": "segment"}
TABLE_TYPES = COLUMN_TYPES | {"accounts.segment": "string", "entered_at": "timestamp"}


def python_rows() -> list[dict[str, Any]]:
    """Return the table's rows as plain Python values, None for every kind of missing."""
    rows = []
    for record in TABLE.to_dict("records"):
        row = {str(k): None if v is None or v is pd.NaT or v != v else v for k, v in record.items()}
        for key, value in row.items():
            if isinstance(value, pd.Timestamp):
                row[key] = value.to_pydatetime()
        row.update({alias: row[name] for alias, name in QUALIFIED.items()})
        rows.append(row)
    return rows


ROWS = python_rows()


def moment(value: Any) -> Any:
    """Read an ISO string as a date or datetime; widen a date to its midnight datetime."""
    if isinstance(value, str):
        value = date.fromisoformat(value) if len(value) == 10 else datetime.fromisoformat(value)
    if type(value) is date:
        return datetime(value.year, value.month, value.day)
    return value


def comparable(values: list[Any]) -> list[Any]:
    """Make values of one comparison comparable, as SQL would after the rule's casts."""
    if any(isinstance(v, date) for v in values):
        return [None if v is None else moment(v) for v in values]
    return values


ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def evaluate(node: Node, row: Mapping[str, Any]) -> Any:
    """Evaluate ``node`` on one row with SQL semantics: None is unknown and mostly spreads."""
    match node:
        case Literal(value=value):
            return value
        case Column(name=name):
            return row[name]
        case Unary(op="not", operand=operand):
            value = evaluate(operand, row)
            return None if value is None else not value
        case Unary(operand=operand):
            value = evaluate(operand, row)
            return None if value is None else -float(value)
        case Binary(op="and", left=left, right=right):
            a, b = evaluate(left, row), evaluate(right, row)
            return False if False in (a, b) else None if None in (a, b) else True
        case Binary(op="or", left=left, right=right):
            a, b = evaluate(left, row), evaluate(right, row)
            return True if True in (a, b) else None if None in (a, b) else False
        case Binary(op=op, left=left, right=right):
            a, b = evaluate(left, row), evaluate(right, row)
            if a is None or b is None or (op == "/" and b == 0):
                return None
            x, y = float(a), float(b)
            return {"+": x + y, "-": x - y, "*": x * y}[op] if op != "/" else x / y
        case Compare(op=op, left=left, right=right):
            a, b = comparable([evaluate(left, row), evaluate(right, row)])
            return None if a is None or b is None else ORDER[op](a, b)
        case InList(operand=operand, items=items, negated=negated):
            subject, *values = comparable([evaluate(n, row) for n in (operand, *items)])
            if subject is None:
                found = None
            elif any(v is not None and v == subject for v in values):
                found = True
            else:
                found = None if None in values else False
            return found if found is None or not negated else not found
        case IsNull(operand=operand, negated=negated):
            return (evaluate(operand, row) is None) != negated
        case Call(name="coalesce", args=args):
            return next((v for v in (evaluate(a, row) for a in args) if v is not None), None)
        case Call(name=name, args=(arg,)):
            value = evaluate(arg, row)
            if value is None:
                return None
            if name == "days_since":
                return (row["entered_at"] - moment(value)).total_seconds() / 86_400
            return {"lower": str.lower, "upper": str.upper, "length": len}[name](value)
    raise AssertionError(node)


def met(node: Node) -> list[bool]:
    """Return, for each row, whether the evaluator finds the rule met (unknown is not met)."""
    return [evaluate(node, row) is True for row in ROWS]


@pytest.fixture(scope="module")
def con() -> Any:
    """A DuckDB connection shared by the module's tests."""
    return ibis.duckdb.connect()


TABLE_EXPR = ibis.memtable(TABLE)
IBIS_COLUMNS = {name: TABLE_EXPR[name] for name in TABLE.columns if name != "id"}
IBIS_COLUMNS.update({alias: TABLE_EXPR[name] for alias, name in QUALIFIED.items()})


def run(con: Any, nodes: list[Node]) -> list[list[bool]]:
    """Compile ``nodes``, evaluate them in one query, and return each rule's column of results."""
    rules = {
        f"r{i}": compile_rule(n, IBIS_COLUMNS, TABLE_EXPR.entered_at) for i, n in enumerate(nodes)
    }
    frame = con.execute(TABLE_EXPR.select("id", **rules).order_by("id"))
    return [[bool(v) for v in frame[name]] for name in rules]


COMPILED_RULES = [
    "lead_score >= 60 and employees >= 200 and segment in ('computing', 'communications')",
    "lead_score >= 60 or segment = 'computing'",
    "not lead_score < 60",
    "lead_score is null or is_partner",
    "is_partner = false",
    "is_partner != true",
    "segment not in ('computing', 'retail')",
    "lower(segment) = 'retail' and upper(segment) != 'RETAIL'",
    "length(segment) > 5",
    "length(segment) = 0",
    "coalesce(lead_score, employees / 10) > 50",
    "coalesce(segment, 'unknown') = 'unknown'",
    "accounts.employees * 2 - lead_score / 2 > 300",
    "employees / (lead_score - 60) < 0",
    "-lead_score + 100 >= 40.5",
    "days_since(created_at) > 18.5",
    "days_since(signed_on) between_is_not_a_keyword is null"
    if False
    else "days_since(signed_on) < 1",
    "created_at >= '2024-01-15' and created_at < '2024-03-01 12:30:00'",
    "signed_on = '2024-02-29' or signed_on < created_at",
    "signed_on in ('2024-01-01', created_at, '2024-01-15 00:00:00')",
    "created_at is not null and (is_partner or null)",
    "not (is_partner and lead_score > 70)",
    "(employees > 100) = (lead_score > 60)",
    # Conditions as operands: ibis alone would print NOT (b) IS NULL, read as NOT (b IS NULL).
    "(not is_partner) is null",
    "(not is_partner) = false",
    "(segment in ('retail')) != is_partner",
    "segment < 'd' and accounts.segment >= 'a'",
]


def test_compiled_rules_match_the_evaluator(con: Any) -> None:
    """Each hand-written rule gives, on DuckDB, what the plain-Python evaluator gives per row."""
    nodes = [parse_rule(text) for text in COMPILED_RULES]
    for text, node in zip(COMPILED_RULES, nodes, strict=True):
        assert check_rule(node, TABLE_TYPES) == [], text
    results = run(con, nodes)
    for text, node, result in zip(COMPILED_RULES, nodes, results, strict=True):
        assert result == met(node), text
    # The sample rule must select something and not everything, or the comparison is weak.
    assert 0 < sum(results[0]) < len(ROWS)


def test_compile_refuses_ill_typed_rules() -> None:
    """compile_rule checks the rule against the columns' types before building anything."""
    with pytest.raises(ExpressionError, match="cannot compare string with number"):
        compile_rule(parse_rule("segment = 1"), IBIS_COLUMNS, TABLE_EXPR.entered_at)


def test_deepest_rule_compiles(con: Any) -> None:
    """A rule at the depth limit compiles and runs: the limit keeps SQL generation in bounds."""
    terms = ["employees"] * (MAX_HEIGHT - 1)
    node = parse_rule(" + ".join(terms) + " > 1000")
    assert run(con, [node]) == [met(node)]
    with pytest.raises(ExpressionError, match="too deeply nested"):
        parse_rule(" + ".join([*terms, "1"]) + " > 1000")


def test_unsupported_column_type_is_a_programming_error() -> None:
    """check_rule refuses column types outside the canonical six, as the caller's mistake."""
    with pytest.raises(ValueError, match="unsupported column types"):
        check_rule(parse_rule("x > 1"), {"x": "decimal"})


def test_null_rule_is_not_met(con: Any) -> None:
    """A rule whose value is unknown counts as not met, even when negated."""
    results = run(con, [parse_rule("lead_score > 1 or null"), parse_rule("not (null and true)")])
    assert results[0] == [row["lead_score"] is not None and row["lead_score"] > 1 for row in ROWS]
    assert results[1] == [False] * len(ROWS)


# --------------------------------------------------------------------------------------------
# Properties

KEYWORDS = ["and", "or", "not", "in", "is", "null", "true", "false", "AND", "Not", "NULL"]
SYMBOLS = ["=", "==", "!=", "<>", "<", "<=", ">", ">=", "+", "-", "*", "/", "(", ")", ","]
TOKENS = [*KEYWORDS, *SYMBOLS, *FUNCTIONS, "a", "b.c", "1", "2.5", ".5", "1e3", "'s'", '"t"']
TOKENS += ["'", '"', "\\", ".", "@", "!", "1e", "a.", "'\\'", "9" * 25]


def parses_or_fails_cleanly(text: str) -> None:
    """Assert that ``text`` parses (and round-trips) or fails with a located ExpressionError."""
    try:
        node = parse_rule(text)
    except ExpressionError as error:
        assert 0 <= error.offset <= len(text) and error.length >= 1
        assert "^" in error.caret(text)
        return
    assert parse_rule(render(node)) == node


@given(st.text())
@settings(deadline=None)
def test_any_text_parses_or_fails_cleanly(text: str) -> None:
    """Arbitrary text either parses or raises ExpressionError, never another exception."""
    parses_or_fails_cleanly(text)


@given(st.lists(st.sampled_from(TOKENS), max_size=30), st.sampled_from([" ", "", "\n"]))
@settings(deadline=None)
def test_token_soup_parses_or_fails_cleanly(tokens: list[str], separator: str) -> None:
    """Sequences of the language's own tokens either parse or raise ExpressionError."""
    parses_or_fails_cleanly(separator.join(tokens))


NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}(\.[a-z_][a-z0-9_]{0,8})?", fullmatch=True)
NAMES = NAMES.filter(lambda name: name.lower() not in KEYWORDS)
Strategies = Mapping[str, st.SearchStrategy[Any]]


TEMPORAL = ["timestamp", "date"]
# What each kind of tree can be, besides a leaf (a column or a literal).
SHAPES = {
    "number": ["negate", "arithmetic", "length", "days_since", "coalesce"],
    "string": ["lower", "upper", "coalesce"],
    "timestamp": ["coalesce"],
    "date": ["coalesce"],
    "bool": ["not", "logic", "logic_null", "compare", "equal", "in", "is_null"],
}


@st.composite
def typed(
    draw: st.DrawFn, kind: str, depth: int, columns: Strategies, literals: Strategies
) -> Node:
    """Draw a well-typed tree of ``kind`` (a key of SHAPES) at most ``depth`` operators deep.

    ``columns`` and ``literals`` give, per kind, the names of columns and the values of
    literals; ``literals["date_text"]`` are dates written as strings.
    """

    def sub(of: str) -> Node:
        return draw(typed(of, depth - 1, columns, literals))

    shape = draw(st.sampled_from(["leaf", *SHAPES[kind]] if depth else ["leaf"]))
    if shape == "leaf":
        if kind in literals and draw(st.booleans()):
            return Literal(draw(literals[kind]))
        return Column(draw(columns[kind]))
    if shape in ("lower", "upper", "length", "days_since"):
        of = draw(st.sampled_from(TEMPORAL)) if shape == "days_since" else "string"
        return Call(shape, (sub(of),))
    if shape == "coalesce":
        # One argument at least is not null: coalesce(null) is null, which cannot be compared.
        more = draw(st.lists(st.sampled_from([kind, "null"]), max_size=2))
        args = [sub(kind), *(Literal(None) if a == "null" else sub(a) for a in more)]
        return Call("coalesce", tuple(draw(st.permutations(args))))
    if shape == "negate":
        return Unary("-", sub("number"))
    if shape == "arithmetic":
        return Binary(draw(st.sampled_from("+-*/")), sub("number"), sub("number"))
    if shape == "not":
        return Unary("not", sub("bool"))
    if shape.startswith("logic"):
        right = Literal(None) if shape == "logic_null" else sub("bool")
        return Binary(draw(st.sampled_from(["and", "or"])), sub("bool"), right)
    if shape == "equal":
        return Compare(draw(st.sampled_from(["=", "!="])), sub("bool"), sub("bool"))
    if shape == "is_null":
        return IsNull(sub(draw(st.sampled_from(list(SHAPES)))), draw(st.booleans()))
    of = draw(st.sampled_from(["number", "string", *TEMPORAL]))

    def other() -> Node:
        """Draw what may stand beside a value of kind ``of``: dates, timestamps, date strings."""
        if of not in TEMPORAL:
            return sub(of)
        if draw(st.booleans()):
            return Literal(draw(literals["date_text"]))
        return sub(draw(st.sampled_from(TEMPORAL)))

    if shape == "compare":
        op = draw(st.sampled_from(["=", "!=", "<", "<=", ">", ">="]))
        return Compare(op, sub(of), other())
    items = tuple(other() for _ in range(draw(st.integers(1, 3))))
    return InList(sub(of), items, draw(st.booleans()))


# Any names and values the language can write, for the round trip; a column's first letter
# gives its kind, so that the generated rules can be type-checked.
PREFIXES = {"bool": "b", "number": "n", "string": "s", "timestamp": "t", "date": "d"}
ANY_COLUMNS = {kind: NAMES.map(prefix.__add__) for kind, prefix in PREFIXES.items()}
ANY_TYPES = {"b": "bool", "n": "float", "s": "string", "t": "timestamp", "d": "date"}
ANY_LITERALS: Strategies = {
    "bool": st.booleans(),
    "number": st.one_of(
        st.integers(0, 2**63 - 1), st.floats(0, allow_nan=False, allow_infinity=False)
    ),
    "string": st.text(),
    "date_text": st.sampled_from(["2024-01-31", "2024-01-31 09:30:00"]),
}
# The test table's columns, and values in the ranges of its data.
TABLE_COLUMNS: Strategies = {
    "bool": st.just("is_partner"),
    "number": st.sampled_from(["lead_score", "employees", "accounts.employees"]),
    "string": st.sampled_from(["segment", "accounts.segment"]),
    "timestamp": st.sampled_from(["created_at", "entered_at"]),
    "date": st.just("signed_on"),
}
TABLE_LITERALS: Strategies = {
    "bool": st.booleans(),
    "number": st.one_of(st.integers(0, 300), st.sampled_from([0.5, 59.5, 60.0, 18.25])),
    "string": st.sampled_from(["computing", "Retail", "retail", "RETAIL", "", "m"]),
    "date_text": st.sampled_from(["2024-01-01", "2024-02-29", "2024-01-15 00:00:00"]),
}


@given(typed("bool", 4, ANY_COLUMNS, ANY_LITERALS))
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_render_round_trips(node: Node) -> None:
    """Any well-typed tree renders to text that parses back to an equal tree."""
    columns = {name: ANY_TYPES[name[0]] for name in referenced_columns(node)}
    assert check_rule(node, columns) == []
    assert parse_rule(render(node)) == node


@given(node=typed("bool", 3, TABLE_COLUMNS, TABLE_LITERALS))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_generated_rules_match_the_evaluator(con: Any, node: Node) -> None:
    """Random well-typed rules over the test table agree with the plain-Python evaluator."""
    assert check_rule(node, TABLE_TYPES) == []
    assert run(con, [node]) == [met(node)], render(node)
