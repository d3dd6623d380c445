"""A vectorised synthetic B2B company: Northwind Microcontrollers.

Northwind sells microcontrollers into four segments (transportation, computing, consumer
electronics, communications) in four markets over ``months`` months. ``generate_company``
returns the canonical tables and the true parameters behind them (``truth``), so that metric
code can be checked against known answers. Everything is drawn from one
``numpy.random.default_rng(seed)`` with whole-array operations (loops only over stages,
segments, channels, months and owners), so two million people take a few minutes.

Conventions:

* The window is [start, start + months). The data are an extract taken at its end: every
  timestamp is before the end (spend ``period_end`` may equal it); lifecycle events that would
  happen later are censored, so opportunities may be ``open`` and recent leads in flight.
  Timestamps are naive ``timestamp[us]`` in UTC, floored to the second.
* Stage ids and record types follow ``plan.yaml``. ``opportunity``/``won``/``lost`` events
  belong to opportunity records (record_id = opportunity_id); ``customer``/``expansion``/
  ``advocate`` to account records (record_id = account_id); all others to people.
* Revenue sign convention: ``new``, ``expansion``, ``renewal`` and ``purchase`` amounts are
  positive; ``contraction`` and ``churn`` amounts are negative, equal to minus the annual
  contract value given up (churn: the whole contract value at the anniversary not renewed).
  ``new`` is the first won deal of an account; later won deals of an active customer are
  ``expansion``; ``purchase`` rows are repeat production orders sized from the first deal.
* Opportunity kinds: ``new`` (opened from an SQL person, person_id set), ``expansion`` and
  ``renewal`` (opened with an existing customer, person_id null).
* Spend ``period_end`` is the start of the next month (periods are half-open).
* The definitions of every truth entry are in ``truth["definitions"]``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from missionline.demo import _experiment, _truth
from missionline.demo._customers import REVENUE_KINDS, opportunity_events, simulate_customers
from missionline.demo._funnel import lead_scores, simulate_funnel
from missionline.demo._ids import decode, sequential_ids, take
from missionline.demo._owners import build_owners
from missionline.demo._params import MQL_BELOW_THRESHOLD_SHARE, MQL_SCORE_THRESHOLD, STAGES
from missionline.demo._population import (
    accounts_table,
    draw_accounts,
    draw_people,
    finish_accounts,
    people_table,
)
from missionline.demo._spend import spend_table
from missionline.demo._survey import survey_table
from missionline.demo._tables import AllOpps, opportunities_table, stage_events_table
from missionline.demo._timeline import Timeline
from missionline.demo._touches import DealSpan, simulate_touches, touches_table

# The canonical tables, in the order generate_company returns and write_company writes them.
TABLES = (
    "accounts",
    "people",
    "stage_events",
    "opportunities",
    "touches",
    "spend",
    "revenue",
    "owners",
    "assignments",
    "survey_responses",
)


@dataclass(frozen=True)
class Company:
    """A generated company: canonical tables and the true parameters behind them."""

    tables: dict[str, pa.Table]
    truth: dict[str, Any]


def generate_company(
    leads: int,
    seed: int,
    start: date = date(2024, 10, 1),
    months: int = 24,
    progress: Callable[[str, float], None] | None = None,
) -> Company:
    """Generate a synthetic company with `leads` people; deterministic for a given seed."""
    if leads < 1 or months < 1:
        raise ValueError("leads and months must be positive")
    report = progress or (lambda phase, done: None)
    rng = np.random.default_rng(seed)
    tl = Timeline.build(start, months)

    report("accounts and people", 0.0)
    owners = build_owners(rng, leads)
    acc = draw_accounts(rng, leads)
    people = draw_people(rng, leads, acc, tl)
    finish_accounts(rng, acc, people, tl)
    variant = _experiment.assign(rng, people, tl)

    report("funnel", 0.15)
    funnel = simulate_funnel(rng, people, owners, tl, variant)
    report("customers", 0.4)
    life = simulate_customers(rng, funnel.deals, acc.segment, owners, tl, funnel.events)
    opportunity_events(funnel.events, life.opps, len(funnel.deals.person))
    opps = AllOpps.combine(funnel.deals, life.opps)
    score = lead_scores(rng, funnel.mql_passes)

    report("touches", 0.5)
    person_ids = sequential_ids("per_", len(people.created), 8)
    account_ids = sequential_ids("acc_", len(acc.created), 7)
    touch_cols = simulate_touches(
        rng, people, funnel, DealSpan(opps.person, opps.account, opps.created, opps.close), tl
    )
    touches = touches_table(touch_cols, tl, person_ids, account_ids)
    del touch_cols  # the largest intermediate; free it before building the other tables

    report("tables", 0.75)
    owner_table = owners.table(rng)
    owner_ids = owner_table.column("owner_id").combine_chunks()
    opp_table, opp_row, opp_ids = opportunities_table(opps, tl, person_ids, account_ids, owner_ids)
    events = stage_events_table(
        funnel.events, tl, person_ids, opp_row, opp_ids, account_ids, owner_ids
    )
    tables = {
        "accounts": accounts_table(acc, tl, account_ids),
        "people": people_table(people, tl, person_ids, account_ids, score),
        "stage_events": events,
        "opportunities": opp_table,
        "touches": touches,
        "spend": spend_table(rng, tl, owners, leads),
        "revenue": pa.table(
            {
                "account_id": take(account_ids, life.revenue_account),
                "at": tl.timestamps(life.revenue_t),
                "amount": pa.array(life.revenue_amount, pa.float64()),
                "kind": decode(REVENUE_KINDS, life.revenue_kind),
            }
        ),
        "owners": owner_table,
        "assignments": _experiment.assignments_table(variant, people, tl, person_ids),
        "survey_responses": survey_table(rng, tl),
    }

    report("truth", 0.95)
    entered = {k: v < tl.end for k, v in funnel.first.items()}

    def day(t: float) -> str:
        """Return the ISO date of a day offset."""
        return (start + timedelta(days=float(t))).isoformat()

    lo, hi = _experiment.window(tl)
    mql_people = entered["mql"]
    stage_counts = {
        str(row["values"]): int(row["counts"])
        for row in pc.value_counts(events.column("stage")).to_pylist()
    }
    truth: dict[str, Any] = {
        "seed": seed,
        "leads": leads,
        "start": start.isoformat(),
        "months": months,
        "end": day(tl.end),
        "conversion": _truth.conversion_truth(
            people.segment,
            people.channel,
            variant,
            entered,
            funnel.deals.person,
            funnel.deals.created < tl.end,
        ),
        **_truth.parameter_truth(),
        "experiment": _truth.experiment_truth(
            people.segment, people.channel, variant, (day(lo), day(hi))
        ),
        "customers": _truth.customers_truth(life.counts),
        "data_quality": {
            "mql_below_threshold_share_parameter": MQL_BELOW_THRESHOLD_SHARE,
            "mql_people_below_threshold_share": float(
                (score[mql_people] < MQL_SCORE_THRESHOLD).mean()
            )
            if mql_people.any()
            else None,
        },
        "volumes": {
            "tables": {name: t.num_rows for name, t in tables.items()},
            "stage_entries": {s: stage_counts.get(s, 0) for s in STAGES},
        },
        "definitions": dict(_truth.DEFINITIONS),
    }
    report("done", 1.0)
    return Company(tables, truth)


def write_company(
    company: Company, out_dir: Path, fmt: Literal["parquet", "csv"] = "parquet"
) -> list[Path]:
    """Write each table to out_dir/<table>.<fmt> and out_dir/truth.json; return the table files."""
    if fmt not in ("parquet", "csv"):
        raise ValueError(f"unknown format {fmt!r}; use 'parquet' or 'csv'")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for name, table in company.tables.items():
        path = out_dir / f"{name}.{fmt}"
        if fmt == "parquet":
            pq.write_table(table, path)
        else:
            pacsv.write_csv(table, path)
        paths.append(path)
    (out_dir / "truth.json").write_text(json.dumps(company.truth, indent=2) + "\n")
    return paths
