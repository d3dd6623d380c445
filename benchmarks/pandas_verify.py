"""Entry-rule conformance (``Workspace.verify()``) in vectorised pandas, for the demo plan.

The first entry per record and stage, merged with the record's row and its account's; each
rule is a hand-written boolean column (a comparison with a missing value is False: not met).
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from benchmarks.sql_plan import ACCOUNT_PATH, OPPORTUNITY_PATH, PATH, PERSON_PATH, SEGMENTS

Rule = Callable[[pd.DataFrame], pd.Series]
RULES: dict[str, Rule] = {
    "radar": lambda f: f["account_id"].notna(),
    "lead": lambda f: f["source_channel"].notna(),
    "mql": lambda f: f["lead_score"] >= 60,
    "sal": lambda f: (f["lead_score"] >= 60) & (f["employees"] >= 10),
    "sql": lambda f: f["account_id"].notna() & f["segment"].isin(SEGMENTS),
    "opportunity": lambda f: (f["amount"] > 0) & f["account_id"].notna(),
    "won": lambda f: f["amount"] > 0,
    "customer": lambda f: f["segment"].notna(),
    "expansion": lambda f: (f["entered_at"] - f["created_at"]).dt.total_seconds() / 86400 >= 30,
    "advocate": lambda f: f["segment"].notna(),
}


def verify_pandas(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Entries and conforming entries per stage."""
    events = tables["stage_events"]
    firsts = (
        events[events["stage"].isin(PATH)]
        .groupby(["stage", "record_id"], as_index=False)["entered_at"]
        .min()
    )
    people = tables["people"][["person_id", "account_id", "source_channel", "lead_score"]]
    accounts = tables["accounts"][["account_id", "segment", "employees", "created_at"]]
    opportunities = tables["opportunities"][["opportunity_id", "account_id", "amount"]]

    def own(stages: tuple[str, ...], table: pd.DataFrame, key: str) -> pd.DataFrame:
        part = firsts[firsts["stage"].isin(stages)]
        return part.merge(table, left_on="record_id", right_on=key, how="left")

    joined = [
        own(PERSON_PATH, people, "person_id").merge(accounts, on="account_id", how="left"),
        own(OPPORTUNITY_PATH, opportunities, "opportunity_id"),
        own(ACCOUNT_PATH, accounts, "account_id"),
    ]
    counts = {}
    for frame in joined:
        for stage, rows in frame.groupby("stage"):
            counts[stage] = (len(rows), int(RULES[str(stage)](rows).sum()))
    table = [(stage, *counts.get(stage, (0, 0))) for stage in PATH]
    return pd.DataFrame(table, columns=["stage", "entries", "conforming"])
