"""Several aggregates in one round trip to the engine.

Each ``to_pandas()`` compiles an expression and runs a query: over a million stage events a
round trip costs a tenth of a second or more, and two queries that read the same subexpression
(the stays in a stage, say) compute it twice. :func:`one_query` runs several lists of parts as
one ``UNION ALL`` and splits the result: Ibis names a subexpression that several parts read as
one CTE, which the engine computes once.
"""

from __future__ import annotations

from collections.abc import Sequence

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
import pandas as pd


def one_query(*lists: Sequence[ir.Table]) -> list[pd.DataFrame]:
    """Run lists of parts (the parts of each list alike in shape; a column name means one type
    in every list) as one query and return each list's union as a frame (an empty list: an
    empty frame; integers may come back as floats): one round trip, and what several parts
    read is computed once."""
    unions = {i: ibis.union(*parts) for i, parts in enumerate(lists) if parts}
    if not unions:
        return [pd.DataFrame() for _ in lists]
    types: dict[str, dt.DataType] = {}
    for u in unions.values():
        for name, kind in u.schema().items():
            if types.get(name, dt.null).is_null():  # a column of nulls takes the others' type
                types[name] = kind
    padded = [
        u.select(
            _part=ibis.literal(i),
            **{c: u[c].cast(t) if c in u.columns else ibis.null(t) for c, t in types.items()},
        )
        for i, u in unions.items()
    ]
    frame = ibis.union(*padded).to_pandas()
    return [
        frame.loc[frame["_part"] == i, list(unions[i].columns)].reset_index(drop=True)
        if i in unions
        else pd.DataFrame()
        for i in range(len(lists))
    ]
