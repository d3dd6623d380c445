"""The open pipeline's expected wins before a period ends, from the same point of past periods.

Deals close to the calendar (the quarter-end crunch), so the share of open deals won by a
period's end depends on how far into the period one stands. For the current period at
``as_of``, the **past periods** are the earlier ones of the same length that start within the
lookback window; each is looked at the same number of days after its start (its snapshot).
For each bucket end e (each month end of the current period, and its end) the rate is
``won in [snapshot, past start + (e - current start)) ÷ open at the snapshot``, over all past
periods: deals open at an instant as in :mod:`missionline.metrics.pipeline` (created before it,
open or closed at or after it). Every deal open at ``as_of`` then wins by bucket e with that
rate, and brings its own amount.

Uncertainty: the final rate is drawn from its Beta posterior (uniform prior); each open deal
wins or not with it (independently), and a winning deal lands in a bucket with the past
periods' timing.
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from missionline.metrics.pipeline import open_at
from missionline.metrics.records import Records
from missionline.planning.measure import SEGMENT


@dataclass(frozen=True)
class OpenPipeline:
    """Open deals at as_of and the past periods' cumulative win rates per bucket end."""

    amounts: np.ndarray
    opened: int
    won: np.ndarray

    @property
    def rates(self) -> np.ndarray:
        """Cumulative share of open deals won by each bucket end."""
        return self.won / self.opened if self.opened else np.zeros(len(self.won))


def _deals(tables: dict[str, ir.Table]) -> ir.Table:
    opps = tables["opportunities"]
    rows = opps.select(
        record_id=opps.opportunity_id,
        _created=opps.created_at,
        _closed=opps.closed_at,
        _status=opps.status,
        _amount=opps.amount,
    )
    return Records(tables).attach(rows, "opportunity", [SEGMENT])


def measure_open(
    tables: dict[str, ir.Table], pasts: list[tuple[pd.Timestamp, list[pd.Timestamp]]]
) -> pd.DataFrame:
    """Per segment: deals open at each past snapshot, and won by each of its bucket ends.

    ``pasts`` holds (snapshot, bucket ends) per past period; the result has columns
    ``segment``, ``bucket`` (-1: the open count) and ``n``.
    """
    deals = _deals(tables)
    rows = [
        {"_snap": snap, "_until": until, "bucket": b}
        for snap, ends in pasts
        for b, until in enumerate([snap, *ends])
    ]
    if not rows:
        return pd.DataFrame(columns=["segment", "bucket", "n"])
    frame = pd.DataFrame(rows).astype({"_snap": "datetime64[us]", "_until": "datetime64[us]"})
    grid = ibis.memtable(frame)
    joined = deals.cross_join(grid)
    opened = joined.filter(open_at(joined._created, joined._closed, joined._status, joined._snap))
    won = (opened._status == "won") & (opened._closed < opened._until)
    counted = opened.mutate(
        bucket=(opened.bucket == 0).ifelse(-1, opened.bucket - 1),
        _hit=(opened.bucket == 0) | won,
    )
    counted = counted.filter(counted._hit)
    return counted.group_by(["segment", "bucket"]).agg(n=counted.count()).to_pandas()


def open_amounts(tables: dict[str, ir.Table], stamp: pd.Timestamp) -> pd.DataFrame:
    """Deals open at ``stamp`` with their segment and amount (a missing amount counts 0)."""
    deals = _deals(tables)
    at = ibis.literal(stamp.to_pydatetime(), type="timestamp")
    opened = deals.filter(open_at(deals._created, deals._closed, deals._status, at))
    return opened.select("segment", amount=opened._amount.fill_null(0.0)).to_pandas()


def pipeline_for(
    counts: pd.DataFrame, amounts: pd.DataFrame, segment: str | None, buckets: int
) -> OpenPipeline:
    """One segment's (None: every deal's) open pipeline and past cumulative wins per bucket."""
    if segment is not None:
        counts = counts[counts["segment"] == segment]
        amounts = amounts[amounts["segment"] == segment]
    totals = counts.groupby("bucket")["n"].sum()
    won = np.array([float(totals.get(b, 0)) for b in range(buckets)])
    return OpenPipeline(amounts["amount"].to_numpy(dtype=float), int(totals.get(-1, 0)), won)


def simulate_open(
    pipe: OpenPipeline, count_only: bool, draws: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """The expected won value per bucket, and simulated values per draw and bucket."""
    buckets = len(pipe.won)
    values = np.ones(len(pipe.amounts)) if count_only else pipe.amounts
    rates = pipe.rates
    expected = np.diff(np.concatenate([[0.0], rates])) * values.sum()
    if not pipe.opened or not len(values) or not rates[-1]:
        return expected, np.zeros((draws, buckets))
    final = rng.beta(pipe.won[-1] + 1, pipe.opened - pipe.won[-1] + 1, draws)
    wins = rng.random((draws, len(values))) < final[:, None]
    timing = np.cumsum(np.diff(np.concatenate([[0.0], rates]))) / rates[-1]
    slot = np.searchsorted(timing, rng.random((draws, len(values))), side="right")
    slot = np.minimum(slot, buckets - 1)
    out = np.stack([((slot == b) & wins) @ values for b in range(buckets)], axis=1)
    return expected, out
