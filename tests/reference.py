"""Plain-Python reference implementations of the metrics, for comparison with the engine.

Deliberately simple (loops over records, no shared code with missionline.metrics), so that an
agreement between the two is evidence, not an echo.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

STAGE_TYPES = dict[str, str]  # stage id -> record type


def _links(people: pd.DataFrame, opportunities: pd.DataFrame) -> dict[tuple[str, str], dict]:
    """Map (from type, to type) -> {from id: set of to ids}."""
    links: dict[tuple[str, str], dict] = defaultdict(lambda: defaultdict(set))
    for row in opportunities.itertuples():
        if isinstance(row.person_id, str):
            links["person", "opportunity"][row.person_id].add(row.opportunity_id)
        if isinstance(row.account_id, str):
            links["opportunity", "account"][row.opportunity_id].add(row.account_id)
    for row in people.itertuples():
        if isinstance(row.account_id, str):
            links["person", "account"][row.person_id].add(row.account_id)
    return links


def _dimension(
    record_id: str,
    record_type: str,
    dim: str,
    people: pd.DataFrame,
    opportunities: pd.DataFrame,
    accounts: pd.DataFrame,
) -> object:
    """The value of ``channel`` or an accounts column for one record."""
    person = opportunities.set_index("opportunity_id")["person_id"].to_dict()
    person_account = people.set_index("person_id")["account_id"].to_dict()
    opp_account = opportunities.set_index("opportunity_id")["account_id"].to_dict()
    if dim == "channel":
        channel = people.set_index("person_id")["source_channel"].to_dict()
        pid = record_id if record_type == "person" else person.get(record_id)
        value = channel.get(pid) if record_type != "account" else None
    else:
        account = {
            "person": person_account.get(record_id),
            "opportunity": opp_account.get(record_id),
            "account": record_id,
        }[record_type]
        value = accounts.set_index("account_id")[dim].to_dict().get(account)
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def _period(ts: datetime, period: str | None) -> object:
    if period is None:
        return None
    if period == "month":
        return pd.Timestamp(ts.year, ts.month, 1).date()
    if period == "quarter":
        return pd.Timestamp(ts.year, 3 * ((ts.month - 1) // 3) + 1, 1).date()
    raise ValueError(period)


def reference_funnel(
    events: pd.DataFrame,
    people: pd.DataFrame,
    opportunities: pd.DataFrame,
    accounts: pd.DataFrame,
    path: Sequence[tuple[str, str]],
    by: str | None = None,
    period: str | None = None,
    basis: str = "cohort",
    within_days: float | None = None,
) -> pd.DataFrame:
    """The funnel computed record by record; ``path`` is [(stage id, record type), ...]."""
    links = _links(people, opportunities)
    stage_ids = [s for s, _ in path]
    # all entry times per (record, stage)
    times: dict[tuple[str, str], list[datetime]] = defaultdict(list)
    for row in events.itertuples():
        if row.stage in stage_ids:
            times[row.record_id, row.stage].append(pd.Timestamp(row.entered_at).to_pydatetime())
    groups: dict[tuple, dict] = defaultdict(lambda: defaultdict(list))  # group -> stage -> rows
    for i, (stage, rtype) in enumerate(path):
        for (record, s), stamps in times.items():
            if s != stage:
                continue
            if basis == "cohort":
                entries = [min(stamps)]
            else:
                first_in_period: dict[object, datetime] = {}
                for t in sorted(stamps):
                    first_in_period.setdefault(_period(t, period), t)
                entries = list(first_in_period.values())
            for t in entries:
                reached = None
                if i + 1 < len(path):
                    nxt, ntype = path[i + 1]
                    targets = {record} if ntype == rtype else links[rtype, ntype].get(record, set())
                    candidates = [
                        u
                        for target in targets
                        for u in times.get((target, nxt), [])
                        if u >= t and (within_days is None or u <= t + timedelta(days=within_days))
                    ]
                    reached = min(candidates) if candidates else None
                dim = _dimension(record, rtype, by, people, opportunities, accounts) if by else None
                groups[dim, _period(t, period)][stage].append((t, reached))
    if not by and not period:
        groups.setdefault((None, None), defaultdict(list))  # the whole company, even when empty
    rows = []
    for (dim, per), stages in groups.items():
        cumulative: float | None = 1.0
        for i, stage in enumerate(stage_ids):
            items = stages.get(stage, [])
            n = len(items)
            days = [(r - t).total_seconds() / 86400 for t, r in items if r is not None]
            if i + 1 == len(stage_ids):
                conversion = None
            elif basis == "cohort":
                conversion = len(days) / n if n else None
            else:
                conversion = len(stages.get(stage_ids[i + 1], [])) / n if n else None
            row = {
                "stage": stage,
                "entries": n,
                "conversion_to_next": conversion,
                "cumulative_conversion": cumulative,
                "median_days_to_next": float(np.quantile(days, 0.5)) if days else None,
                "p90_days_to_next": float(np.quantile(days, 0.9)) if days else None,
            }
            if by:
                row[by] = dim
            if period:
                row["period"] = per
            rows.append(row)
            has_both = cumulative is not None and conversion is not None
            cumulative = cumulative * conversion if has_both else None  # type: ignore[operator]
    return pd.DataFrame(rows)
