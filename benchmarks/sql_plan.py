"""What the hand-written baselines share: the demo plan as they know it, and durations.

An analyst writing SQL or pandas for one company types its stage names in; so do the
baselines. :func:`check_plan` fails loudly when a workspace's plan is not the demo plan these
constants describe, so the baselines can never silently compute something else. Durations are
measured as missionline measures them: whole seconds, each instant's fraction of a second
dropped (:func:`seconds_sql`, :func:`seconds`).
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from missionline.plan.models import Plan

PERSON_PATH = ("radar", "lead", "mql", "sal", "sql")
OPPORTUNITY_PATH = ("opportunity", "won")
ACCOUNT_PATH = ("customer", "expansion", "advocate")
PATH = (*PERSON_PATH, *OPPORTUNITY_PATH, *ACCOUNT_PATH)
PIPELINE = (*PERSON_PATH, "opportunity")  # the stages before won: they have a time in stage
PERSON_EXITS = {"disqualified": "disqualified", "recycled": "recycled"}  # stage -> exit kind
OPPORTUNITY_EXITS = {"lost": "lost"}
RECYCLE_TO = "mql"  # where a recycled lead re-enters
HANDOFF = "mql"  # marketing's stage before a sales-owned one: the wave's MQL entries
# SLA stage -> (hours, what answers the hand-off, the stages whose entry accepts it)
SLAS = {
    "mql": (24.0, "first_sales_touch", ("sal", "sql")),
    "sal": (336.0, "sql", ("sql",)),
    "sql": (168.0, "opportunity", ("opportunity", "won")),
}
# The entry rules as written in the plan: checked against it, then hand-translated per baseline.
RULES = {
    "radar": "account_id is not null",
    "lead": "source_channel is not null",
    "mql": "lead_score >= 60",
    "sal": "lead_score >= 60 and employees >= 10",
    "sql": 'account_id is not null and segment in ("transportation", "computing", '
    '"consumer_electronics", "communications")',
    "opportunity": "amount > 0 and account_id is not null",
    "won": "amount > 0",
    "customer": "segment is not null",
    "expansion": "days_since(created_at) >= 30",
    "advocate": "segment is not null",
}
SEGMENTS = ("transportation", "computing", "consumer_electronics", "communications")
BOOKINGS_TARGET = 22_000_000.0  # new_bookings per quarter: the coverage target (kind new)
WAVE_KINDS = ("new", "expansion")
SECONDS_PER_DAY = 86400.0
WEEK_SECONDS = 7 * 86400


def seconds_sql(start: str, end: str) -> str:
    """SQL for the whole seconds from ``start`` to ``end`` (fractions of a second dropped)."""
    return f"(floor(epoch({end})) - floor(epoch({start})))"


def seconds(start: pd.Series, end: pd.Series | pd.Timestamp) -> pd.Series:
    """The whole seconds from ``start`` to ``end`` (fractions of a second dropped)."""
    last = end.floor("s") if isinstance(end, pd.Timestamp) else end.dt.floor("s")
    return (last - start.dt.floor("s")).dt.total_seconds()


def quoted(values: Iterable[str]) -> str:
    """The values as a list of SQL string literals: ``'a', 'b'``."""
    return ", ".join(f"'{v}'" for v in values)


def moves() -> list[tuple[str, str, str, int, bool]]:
    """``(from_stage, to_stage, via, prio, strict)``: the entries that end a stay in a stage.

    A later stage of the record's type up to won, an exit of its type (prio 1: at the same
    instant the main path wins), and for a person its opportunity (``via`` person) entering
    opportunity or won. ``strict`` rows are the earlier stages of its type: a return to one
    strictly after the latest entry means the record is no longer in the stage.
    """
    won = PATH.index("won")
    rows: list[tuple[str, str, str, int, bool]] = []
    for i, stage in enumerate(PIPELINE):
        person = stage in PERSON_PATH
        own = PERSON_PATH if person else OPPORTUNITY_PATH
        exits = PERSON_EXITS if person else OPPORTUNITY_EXITS
        rows += [(stage, s, "self", 0, False) for s in PATH[i + 1 : won + 1] if s in own]
        rows += [(stage, s, "self", 1, False) for s in exits]
        rows += [(stage, s, "self", 0, True) for s in PATH[:i] if s in own]
        if person:
            rows += [(stage, s, "person", 0, False) for s in OPPORTUNITY_PATH]
    return rows


def initiative_channels(plan: Plan) -> dict[str, str]:
    """Initiative id -> channel, from the plan (spend booked without a channel takes it)."""
    return {i.id: i.channel for i in plan.initiatives if i.channel}


def check_plan(plan: Plan) -> None:
    """Raise if ``plan`` is not the demo plan the baselines were written for."""
    stages = plan.lifecycle.stages
    found = {
        "path": tuple(s.id for s in plan.lifecycle.path()),
        "person exits": {s.id: s.exit for s in stages if s.exit and s.record_type == "person"},
        "opportunity exits": {
            s.id: s.exit for s in stages if s.exit and s.record_type == "opportunity"
        },
        "recycle_to": {s.recycle_to for s in stages if s.exit == "recycled"},
        "slas": {
            s.id: (s.sla.within, s.sla.measured_from or s.id, s.sla.until) for s in stages if s.sla
        },
        "rules": {s.id: s.entry_rule for s in stages if s.entry_rule},
        "target": next(
            (f.metric, f.target, f.period)
            for f in plan.success_factors
            if plan.metrics[f.metric].measure == "won_amount"
        ),
    }
    expected = {
        "path": PATH,
        "person exits": PERSON_EXITS,
        "opportunity exits": OPPORTUNITY_EXITS,
        "recycle_to": {RECYCLE_TO},
        "slas": {
            "mql": ("24h", "mql", "first_sales_touch"),
            "sal": ("14d", "sal", "sql"),
            "sql": ("7d", "sql", "opportunity"),
        },
        "rules": RULES,
        "target": ("new_bookings", BOOKINGS_TARGET, "quarter"),
    }
    for key, value in expected.items():
        if found[key] != value:
            raise ValueError(
                f"the baselines are written for the demo plan; its {key} differ: {found[key]!r}"
            )
    metric = plan.metrics["new_bookings"]
    if (metric.kind, metric.segment, metric.market) != ("new", None, None):
        raise ValueError("the baselines expect new_bookings to count won deals of kind new")
