"""The top customers per market (or segment) by lifetime value, and the next move for each.

Values come from :func:`missionline.customers.value.account_values` (realised + predicted).
For each value of ``per`` two ranked lists, ``n`` rows each (docs/customers.md):

* **customers** (status ``customer`` or ``churned``), ranked by ``lifetime_value`` (ties by
  account id). The next move of a customer:

  - ``keep`` when value is at risk: the renewal probability is below ``KEEP_BELOW`` (0.9) or
    ARR was contracted in the last 365 days;
  - else ``expand`` when its ARR is below the median ARR of its **peers**, the active customers
    of the same segment and employee-size band (the whole segment when the band has fewer
    than ``MIN_PEERS`` customers); the reason gives the headroom = peers' p75 ARR - ARR;
  - else ``keep`` (no risk signal, at or above its peers: protect the account);
  - a churned account's move is ``acquire`` (win it back).

* **prospects** (status ``prospect``, no win), ranked by ``fit`` to the best customers of
  their segment, then employees (larger first) and account id. The best customers are the top
  quarter of the segment's customers by lifetime value (at least one); ``fit`` = ½ · share of
  them in the prospect's industry + ½ · share in its employee-size band, between 0 and 1.
  Prospects have no realised or predicted value; their move is ``acquire``.

``rank`` counts within each list (1..n); the list of a row is told by its ``status``.
"""

from __future__ import annotations

import ibis.expr.types as ir
import numpy as np
import pandas as pd

from missionline.customers.value import Retention, account_values
from missionline.data.schema import Table
from missionline.errors import MissionlineError
from missionline.metrics.pipeline import AsOf
from missionline.plan.models import Plan

PER = ("market", "segment")
KEEP_BELOW = 0.9
MIN_PEERS = 5
BEST_SHARE = 0.25
COLUMNS = [
    "rank",
    "account_id",
    "name",
    "segment",
    "status",
    "realised_value",
    "predicted_value",
    "lifetime_value",
    "arr",
    "renewal_probability",
    "fit",
    "next_move",
    "reason",
]


def _peer_arr(customers: pd.DataFrame) -> pd.DataFrame:
    """Median and p75 ARR of each account's peers: active customers of its segment and band.

    The whole segment stands in when the band has fewer than ``MIN_PEERS`` active customers.
    """
    active = customers[customers["status"] == "customer"]
    out = pd.DataFrame(index=customers.index)
    if active.empty:  # nobody to compare with (churned accounts need no peers)
        return out.assign(peer_median=np.nan, peer_p75=np.nan, peers="segment")
    keys = {"band": ["segment", "size_band"], "segment": ["segment"]}
    for level, columns in keys.items():
        stats = active.groupby(columns, dropna=False)["arr"].agg(
            peer_median="median", peer_p75=lambda s: s.quantile(0.75), peer_count="size"
        )
        joined = customers[columns].join(stats, on=columns)
        for column in stats.columns:
            out[f"{level}_{column}"] = joined[column].to_numpy()
    enough = out["band_peer_count"].fillna(0) >= MIN_PEERS
    for column in ("peer_median", "peer_p75"):
        out[column] = out[f"band_{column}"].where(enough, out[f"segment_{column}"])
    out["peers"] = np.where(enough, "segment and size band", "segment")
    return out[["peer_median", "peer_p75", "peers"]]


def _customer_moves(customers: pd.DataFrame) -> pd.DataFrame:
    """Add ``next_move`` and ``reason`` to customers and churned accounts."""
    frame = customers.join(_peer_arr(customers))
    unlikely = frame["renewal_probability"] < KEEP_BELOW
    contracted = frame["contracted_12m"] > 0
    churned = frame["status"] == "churned"
    below = frame["arr"] < frame["peer_median"]
    risk = [
        "; ".join(
            part
            for part, on in (
                (f"renewal probability {p:.0%} < {KEEP_BELOW:.0%}", u),
                (f"ARR contracted by {c:,.0f} in the last 12 months", k),
            )
            if on
        )
        for p, u, c, k in zip(
            frame["renewal_probability"], unlikely, frame["contracted_12m"], contracted, strict=True
        )
    ]
    expand = [
        f"ARR {a:,.0f} below the median of its peers ({w}); headroom {h - a:,.0f} to their p75"
        for a, w, h in zip(frame["arr"], frame["peers"], frame["peer_p75"], strict=True)
    ]
    protect = [
        f"no risk signal; ARR at or above the median of its peers ({w})" for w in frame["peers"]
    ]
    at_risk = ~churned & (unlikely | contracted)
    grow = ~churned & ~at_risk & below
    moves = np.select([churned, at_risk, grow], ["acquire", "keep", "expand"], "keep")
    reasons = np.select(
        [churned, at_risk, grow], ["churned: win the account back", risk, expand], protect
    )
    return customers.assign(next_move=moves, reason=reasons, fit=np.nan)


def prospect_fit(prospects: pd.DataFrame, customers: pd.DataFrame) -> pd.Series:
    """Fit of each prospect to the best customers (top quarter by value) of its segment."""
    fit = pd.Series(0.0, index=prospects.index)
    for segment, best in customers.groupby("segment"):
        top = best.nlargest(max(1, int(np.ceil(len(best) * BEST_SHARE))), "lifetime_value")
        industry = top["industry"].value_counts(normalize=True)
        band = top["size_band"].value_counts(normalize=True)
        mine = prospects["segment"] == segment
        fit[mine] = 0.5 * prospects.loc[mine, "industry"].map(industry).fillna(0.0).astype(
            "float64"
        ) + 0.5 * prospects.loc[mine, "size_band"].map(band).fillna(0.0).astype("float64")
    return fit


def _prospect_moves(prospects: pd.DataFrame, customers: pd.DataFrame) -> pd.DataFrame:
    """Add ``fit``, ``next_move`` and ``reason`` to prospects; values are null."""
    fit = prospect_fit(prospects, customers)
    reasons = [
        f"fit {f:.2f} to the best {s} customers ({i}, {b} employees)"
        for f, s, i, b in zip(
            fit, prospects["segment"], prospects["industry"], prospects["size_band"], strict=True
        )
    ]
    empty = {c: np.nan for c in ("predicted_value", "lifetime_value", "renewal_probability")}
    return prospects.assign(
        fit=fit, next_move="acquire", reason=reasons, realised_value=np.nan, arr=np.nan, **empty
    )


def _ranked(
    frame: pd.DataFrame, per: str, n: int, order: list[str], up: list[bool]
) -> pd.DataFrame:
    """The first ``n`` rows of each ``per`` group in ``order``, numbered from 1."""
    ordered = frame.sort_values(order, ascending=up, kind="stable", na_position="last")
    top = ordered.groupby(per, dropna=False, sort=False).head(n).copy()
    top["rank"] = top.groupby(per, dropna=False).cumcount() + 1
    return top


def rank_accounts(values: pd.DataFrame, per: str = "market", n: int = 10) -> pd.DataFrame:
    """Rank accounts valued by :func:`account_values`: top customers and prospects per group."""
    if per not in PER:
        raise MissionlineError(f"unknown --per {per!r}; use market or segment")
    if n < 1:
        raise MissionlineError(f"-n must be at least 1, got {n}")
    won = values[values["status"] != "prospect"]
    customers = _ranked(
        _customer_moves(won), per, n, ["lifetime_value", "account_id"], [False, True]
    )
    prospects = _ranked(
        _prospect_moves(values[values["status"] == "prospect"], won),
        per,
        n,
        ["fit", "employees", "account_id"],
        [False, False, True],
    )
    out = pd.concat([customers, prospects], ignore_index=True)
    out["_list"] = (out["status"] == "prospect").astype(int)
    out = out.sort_values([per, "_list", "rank"], kind="stable", na_position="last")
    columns = [per, *[c for c in COLUMNS if c != per]]
    return out[columns].reset_index(drop=True)


def top_customers(
    tables: dict[str, ir.Table],
    schema: dict[str, Table],
    plan: Plan,
    per: str = "market",
    n: int = 10,
    horizon_years: int = 3,
    as_of: AsOf = None,
) -> pd.DataFrame:
    """Return the top ``n`` customers and prospects per market or segment with the next move."""
    return top_customers_with_model(tables, schema, plan, per, n, horizon_years, as_of)[0]


def top_customers_with_model(
    tables: dict[str, ir.Table],
    schema: dict[str, Table],
    plan: Plan,
    per: str = "market",
    n: int = 10,
    horizon_years: int = 3,
    as_of: AsOf = None,
) -> tuple[pd.DataFrame, Retention]:
    """Like :func:`top_customers`, also returning the renewal model used for the predictions."""
    if horizon_years < 1:
        raise MissionlineError(f"--horizon-years must be at least 1, got {horizon_years}")
    values, retention = account_values(tables, schema, plan, horizon_years, as_of)
    return rank_accounts(values, per, n), retention
