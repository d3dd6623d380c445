"""The safe expression language of lifecycle-stage entry rules.

A rule such as ``lead_score >= 60 and segment in ('computing', 'communications')`` is parsed
(never eval'd) into a tree of frozen nodes, type-checked against the columns available, and
compiled to an Ibis condition that the database evaluates for every record entering the stage.
The implementation is split into ``expr_nodes`` (tree, errors, rendering), ``expr_parser``,
``expr_types`` (checker) and ``expr_compile`` (Ibis); this module is the public face.
"""

from missionline.plan.expr_compile import compile_rule
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
    referenced_columns,
    render,
)
from missionline.plan.expr_parser import MAX_NESTING, parse_rule
from missionline.plan.expr_types import COLUMN_TYPES, check_rule

__all__ = [
    "COLUMN_TYPES",
    "FUNCTIONS",
    "MAX_HEIGHT",
    "MAX_NESTING",
    "Binary",
    "Call",
    "Column",
    "Compare",
    "ExpressionError",
    "InList",
    "IsNull",
    "Literal",
    "Node",
    "Unary",
    "check_rule",
    "compile_rule",
    "parse_rule",
    "referenced_columns",
    "render",
]
