"""An append-only log of stage entries, censored at the end of the window."""

from __future__ import annotations

import numpy as np

from missionline.demo._params import STAGE, FloatArr, IntArr


class EventLog:
    """Collects stage entries as numpy chunks; entries at or after ``end`` are dropped."""

    def __init__(self, end: float) -> None:
        """Start an empty log for a window ending at day offset ``end``."""
        self.end = end
        self._chunks: list[tuple[np.ndarray, ...]] = []

    def add(
        self,
        record_type: int,
        record: IntArr,
        stage: str,
        t: FloatArr,
        owner: IntArr | None = None,
        reason: IntArr | None = None,
    ) -> None:
        """Append entries of ``record`` (local indices of one record type) into ``stage``."""
        keep = t < self.end  # the data are an extract taken at the end of the window
        n = int(keep.sum())
        # Narrow dtypes keep millions of entries cheap; codes are small, ids fit int32.
        self._chunks.append(
            (
                np.full(n, record_type, dtype=np.int8),
                np.asarray(record[keep], dtype=np.int32),
                np.full(n, STAGE[stage], dtype=np.int8),
                np.asarray(t[keep], dtype=np.float64),
                np.full(n, -1, np.int32) if owner is None else np.asarray(owner[keep], np.int32),
                np.full(n, -1, np.int8) if reason is None else np.asarray(reason[keep], np.int8),
            )
        )

    def columns(self) -> dict[str, np.ndarray]:
        """Return the concatenated columns: record_type, record, stage, t, owner, reason."""
        names = ("record_type", "record", "stage", "t", "owner", "reason")
        if not self._chunks:
            return {k: np.zeros(0, dtype=np.float64 if k == "t" else np.int32) for k in names}
        return {k: np.concatenate([c[i] for c in self._chunks]) for i, k in enumerate(names)}
