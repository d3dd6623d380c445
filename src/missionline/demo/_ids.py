"""Vectorised string columns: sequential identifiers and code-to-label decoding."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from missionline.demo._params import IntArr


def sequential_ids(prefix: str, n: int, width: int) -> pa.Array:
    """Return ``prefix`` followed by 1..n zero-padded to ``width`` digits, as a string array."""
    numbers = pc.cast(pa.array(np.arange(1, n + 1, dtype=np.int64)), pa.string())
    padded = pc.utf8_lpad(numbers, width=width, padding="0")
    return pc.binary_join_element_wise(prefix, padded, "")


def decode(labels: Sequence[str], codes: IntArr) -> pa.Array:
    """Map integer codes to their labels; negative codes become nulls."""
    codes = np.asarray(codes)
    index = pa.array(codes, mask=codes < 0) if (codes < 0).any() else pa.array(codes)
    return pa.array(list(labels), type=pa.string()).take(index)


def take(values: pa.Array, index: IntArr) -> pa.Array:
    """Take ``values`` at ``index``; negative indices become nulls."""
    index = np.asarray(index)
    arrow_index = pa.array(index, mask=index < 0) if (index < 0).any() else pa.array(index)
    return values.take(arrow_index)


def constant(value: str | None, n: int) -> pa.Array:
    """Return a string column of ``n`` copies of ``value`` (nulls when ``value`` is None)."""
    if value is None:
        return pa.nulls(n, type=pa.string())
    return decode([value], np.zeros(n, dtype=np.int64))
