"""Scenario changes: ``--set`` strings such as ``conversion.sql=+0.05`` parsed and applied.

A change is ``PATH=VALUE``. The path mirrors the plan's ``cascade.assumptions`` keys:

* ``conversion.STAGE`` or ``conversion.SEGMENT.STAGE``: the share of the stage's entries
  reaching the next ladder stage (every segment, or one segment);
* ``lag_days.STAGE`` or ``lag_days.SEGMENT.STAGE``: the days from the stage to the next one;
* ``deal_size`` or ``deal_size.SEGMENT``: the average won deal;
* ``budget`` or ``budget.CHANNEL``: the marketing budget (all of it, or one source channel's);
* ``target.SUCCESS_FACTOR``: a success factor's target.

The value sets (``0.3``, ``30%``), adds or subtracts (``+0.05``, ``-2``), multiplies (``*1.1``)
or changes by a share (``+10%``, ``-20%``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, cast

from missionline.errors import MissionlineError
from missionline.plan.models import Plan

Kind = Literal["conversion", "lag_days", "deal_size", "budget", "target"]
Op = Literal["set", "add", "mul"]
KINDS: tuple[str, ...] = ("conversion", "lag_days", "deal_size", "budget", "target")
_VALUE = re.compile(r"^(?P<sign>[+\-*])?\s*(?P<number>\d+(\.\d*)?|\.\d+)\s*(?P<pct>%)?$")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
EXPECTED = (
    "write PATH=VALUE, e.g. conversion.sql=+0.05, deal_size.computing=*1.1, "
    "budget.paid_search=-20%, lag_days.sql=30 or target.new_bookings=+10%"
)


@dataclass(frozen=True)
class Change:
    """One parsed change: what it changes (kind, segment, key) and how (op, amount)."""

    text: str
    kind: Kind
    segment: str | None
    key: str | None
    op: Op
    amount: float

    def apply(self, value: float) -> float:
        """Return ``value`` after the change."""
        if self.op == "set":
            return self.amount
        if self.op == "add":
            return value + self.amount
        return value * self.amount


def parse_change(text: str) -> Change:
    """Parse one ``--set`` string; a MissionlineError names the string and what was expected."""
    path, sep, value = text.partition("=")
    parts = [p.strip() for p in path.strip().split(".")]
    if not sep or not parts[0]:
        raise MissionlineError(f"invalid change {text!r}: no '='; {EXPECTED}")
    kind, names = parts[0], parts[1:]
    if kind not in KINDS:
        raise MissionlineError(
            f"invalid change {text!r}: unknown assumption {kind!r}; use one of {', '.join(KINDS)}"
        )
    if any(not _NAME.match(n) for n in names):
        raise MissionlineError(f"invalid change {text!r}: names are snake_case ids; {EXPECTED}")
    limits = {"conversion": (1, 2), "lag_days": (1, 2), "deal_size": (0, 1), "budget": (0, 1)}
    low, high = limits.get(kind, (1, 1))
    if not low <= len(names) <= high:
        shapes = {
            "conversion": "conversion.STAGE or conversion.SEGMENT.STAGE",
            "lag_days": "lag_days.STAGE or lag_days.SEGMENT.STAGE",
            "deal_size": "deal_size or deal_size.SEGMENT",
            "budget": "budget or budget.CHANNEL",
            "target": "target.SUCCESS_FACTOR",
        }
        raise MissionlineError(f"invalid change {text!r}: write {shapes[kind]}")
    match = _VALUE.match(value.strip())
    if match is None:
        raise MissionlineError(
            f"invalid change {text!r}: the value {value.strip()!r} is not a number; write "
            "0.3 or 30% (set), +0.05 or -2 (add), *1.1 (multiply), +10% or -20% (change by a share)"
        )
    number, sign, pct = float(match["number"]), match["sign"], match["pct"]
    if sign == "*" and pct:
        raise MissionlineError(f"invalid change {text!r}: multiply by a number, e.g. *1.1")
    op: Op
    if sign == "*":
        op, amount = "mul", number
    elif sign and pct:
        op, amount = "mul", 1 + (number if sign == "+" else -number) / 100
    elif sign:
        op, amount = "add", number if sign == "+" else -number
    else:
        op, amount = "set", number / 100 if pct else number
    if kind == "deal_size":
        segment, key = (names[0] if names else None), None
    elif kind in ("conversion", "lag_days"):
        segment, key = (names[0] if len(names) == 2 else None), names[-1]
    else:
        segment, key = None, (names[0] if names else None)
    return Change(text, cast(Kind, kind), segment, key, op, amount)


def change_problem(change: Change, plan: Plan, ladder: list[str]) -> str | None:
    """What is wrong with a parsed change on this plan (unknown stage, segment...), or None."""
    problem = None
    segments = {s.id for s in plan.segments}
    factors = [f.id for f in plan.success_factors]
    if change.segment is not None and change.segment not in segments:
        problem = f"unknown segment {change.segment!r}; use one of {', '.join(sorted(segments))}"
    elif change.kind in ("conversion", "lag_days") and change.key not in ladder[:-1]:
        problem = (
            f"{change.kind} applies to a ladder stage before the last "
            f"({', '.join(ladder[:-1])}), not {change.key!r}"
        )
    elif change.kind == "target" and change.key not in factors:
        problem = f"unknown success factor {change.key!r}; use one of {', '.join(factors)}"
    elif change.kind == "conversion" and change.op == "set" and not 0 < change.amount <= 1:
        problem = f"a conversion is a share in (0, 1], not {change.amount:g}"
    elif change.kind != "conversion" and change.op != "add" and change.amount < 0:
        problem = f"{change.kind} cannot become negative"
    return None if problem is None else f"change {change.text!r}: {problem}"
