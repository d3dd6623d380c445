"""Aggregates written once so that every engine runs them the same way.

* :func:`count_true` counts the rows where a condition holds. PostgreSQL cannot cast a boolean
  to a bigint or a double (``bool.cast("int64")``); a sum over the boolean itself compiles to
  each engine's own form. :func:`indicator` is the row-level 0/1 for the same reason.
* :func:`seconds_between` is every duration the metrics measure (as a double).
* :func:`quantile` is every percentile the metrics report (medians, p90s). It is **exact**
  (linear interpolation between the two nearest values, as DuckDB's ``quantile_cont``,
  PostgreSQL's ``percentile_cont`` and Spark's ``percentile`` compute it) or **approximate**
  (DuckDB's t-digest ``approx_quantile``, Spark's ``approx_percentile``: a value of the data
  whose rank is within 1/10,000 of the requested one), as the workspace chooses. PostgreSQL has
  no approximate percentile: there the result is always exact, and says so.

The choice belongs to the connection (:class:`missionline.data.database.Database` records it,
see :func:`missionline.data.database.resolve_percentiles`), and each expression finds it
through the backend its tables are bound to, so the metric functions need no extra argument.
A result frame says which kind it used in ``frame.attrs["percentiles"]`` (:func:`labelled`).
"""

from __future__ import annotations

from collections.abc import Mapping

import ibis
import ibis.expr.types as ir
import pandas as pd

from missionline.data.database import Percentiles, percentiles_for


def percentiles_of(expr: ir.Expr | Mapping[str, ir.Table]) -> Percentiles:
    """The kind of percentile computed over ``expr`` (or over a dict of tables)."""
    if isinstance(expr, Mapping):
        expr = next(iter(expr.values()))
    return percentiles_for(expr._find_backend(use_default=True))


def seconds_between(start: ir.TimestampValue, end: ir.TimestampValue) -> ir.FloatingValue:
    """Whole seconds from ``start`` to ``end`` (each instant's fraction of a second dropped,
    as DuckDB and Spark do and PostgreSQL would not), as a double.

    A double before any division: Spark reads a literal such as ``86400.0`` as a decimal and
    would round the quotient of whole seconds by it to a few decimal places.
    """
    return (end.epoch_seconds().floor() - start.epoch_seconds().floor()).cast("float64")


def count_true(condition: ir.BooleanValue) -> ir.IntegerScalar:
    """The number of rows where ``condition`` is true (nulls do not count)."""
    return condition.sum()


def indicator(condition: ir.BooleanValue) -> ir.IntegerValue:
    """1 where ``condition`` is true, else 0 (also where it is null), as a bigint."""
    one, zero = ibis.literal(1, type="int64"), ibis.literal(0, type="int64")
    return ibis.ifelse(condition, one, zero)


def quantile(
    values: ir.NumericValue, q: float, where: ir.BooleanValue | None = None
) -> ir.NumericScalar:
    """The ``q`` quantile of ``values`` (over the rows where ``where`` holds), exact or
    approximate as the connection is set up."""
    if percentiles_of(values) == "approximate":
        return values.approx_quantile(q, where=where)
    return values.quantile(q, where=where)


def labelled(frame: pd.DataFrame, tables: Mapping[str, ir.Table]) -> pd.DataFrame:
    """Record in ``frame.attrs["percentiles"]`` which kind of percentile the frame holds."""
    frame.attrs["percentiles"] = percentiles_of(tables)
    return frame
