"""Customer journeys as paths of channels: what every attribution model reads.

A :class:`Paths` holds many paths in a compressed layout (one array of channel codes for all
touches, and the offset where each path starts), each path with its conversions, conversion
value and non-converting journeys, so a million paths are a few NumPy arrays, not a million
Python lists. A path may stand for one record (from a workspace: one journey, with the days
from each touch to the conversion and its milestone touches) or for many identical journeys
(from a paths file in the common aggregated format: ``path``, ``total_conversions``,
``total_conversion_value``, ``total_null``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from missionline.errors import MissionlineError, Problem

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
SEPARATOR = ">"
PATH_COLUMN = "path"
NUMBER_COLUMNS = ("total_conversions", "total_conversion_value", "total_null")


def tally(index: IntArray, weights: npt.ArrayLike, size: int) -> FloatArray:
    """Sum ``weights`` by ``index`` into ``size`` bins (a float ``np.bincount``)."""
    return np.bincount(index, weights=weights, minlength=size).astype(np.float64, copy=False)


def run_starts(values: npt.NDArray[np.generic]) -> npt.NDArray[np.bool_]:
    """True where a run of equal values starts (at 0 and wherever the value changes)."""
    starts = np.ones(len(values), dtype=bool)
    starts[1:] = values[1:] != values[:-1]
    return starts


@dataclass(frozen=True, eq=False)
class Paths:
    """Paths of channels with their outcomes (compressed: one code array, path offsets).

    ``days`` (per touch: days from the touch to the conversion, or to the path's last touch
    when it did not convert) and ``lead_touch`` / ``opportunity_touch`` (per path: the index,
    within the path, of the touch that created the lead / the opportunity; -1 when none) are
    known for journeys read from a workspace, not for a paths file.
    """

    channels: tuple[str, ...]
    offsets: IntArray
    codes: IntArray
    conversions: FloatArray
    value: FloatArray
    nulls: FloatArray
    days: FloatArray | None = None
    lead_touch: IntArray | None = None
    opportunity_touch: IntArray | None = None

    def __post_init__(self) -> None:
        n = len(self.offsets) - 1
        if n < 0 or self.offsets[0] != 0 or self.offsets[-1] != len(self.codes):
            raise ValueError("offsets must start at 0 and end at the number of touches")
        for name in ("conversions", "value", "nulls", "lead_touch", "opportunity_touch"):
            array = getattr(self, name)
            if array is not None and len(array) != n:
                raise ValueError(f"{name} has {len(array)} entries for {n} paths")
        if self.days is not None and len(self.days) != len(self.codes):
            raise ValueError("days must have one entry per touch")

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> IntArray:
        """The number of touches of each path."""
        return np.diff(self.offsets)

    def path_of_touch(self) -> IntArray:
        """The path index of every touch."""
        return np.repeat(np.arange(len(self), dtype=np.int64), self.lengths)

    def position_of_touch(self) -> IntArray:
        """Each touch's position within its path (0 for the first touch)."""
        return np.arange(len(self.codes), dtype=np.int64) - np.repeat(
            self.offsets[:-1], self.lengths
        )

    @property
    def journeys(self) -> FloatArray:
        """Journeys per path: conversions plus journeys that did not convert."""
        return self.conversions + self.nulls

    @classmethod
    def from_lists(
        cls,
        paths: Sequence[Sequence[str]],
        conversions: Sequence[float],
        value: Sequence[float] | None = None,
        nulls: Sequence[float] | None = None,
        days: Sequence[Sequence[float]] | None = None,
        lead_touch: Sequence[int] | None = None,
        opportunity_touch: Sequence[int] | None = None,
    ) -> Paths:
        """Build paths from Python lists (small inputs: examples and tests)."""
        channels = tuple(sorted({c for path in paths for c in path}))
        index = {c: i for i, c in enumerate(channels)}
        lengths = np.array([len(p) for p in paths], dtype=np.int64)
        zeros = [0.0] * len(paths)
        return cls(
            channels,
            np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
            np.array([index[c] for path in paths for c in path], dtype=np.int64),
            np.asarray(conversions, dtype=np.float64),
            np.asarray(zeros if value is None else value, dtype=np.float64),
            np.asarray(zeros if nulls is None else nulls, dtype=np.float64),
            None if days is None else np.array([d for ds in days for d in ds], dtype=np.float64),
            None if lead_touch is None else np.asarray(lead_touch, dtype=np.int64),
            None if opportunity_touch is None else np.asarray(opportunity_touch, dtype=np.int64),
        )

    def to_frame(self) -> pd.DataFrame:
        """The paths in the common aggregated format, identical paths summed."""
        labels = np.asarray(self.channels, dtype=object)[self.codes]
        starts = self.offsets[:-1]
        text = [
            f" {SEPARATOR} ".join(labels[s:e])
            for s, e in zip(starts, self.offsets[1:], strict=True)
        ]
        frame = pd.DataFrame(
            {
                PATH_COLUMN: text,
                "total_conversions": self.conversions,
                "total_conversion_value": self.value,
                "total_null": self.nulls,
            }
        )
        return frame.groupby(PATH_COLUMN, as_index=False, sort=True).sum()


def encode_labels(labels: pa.Array | pa.ChunkedArray) -> tuple[tuple[str, ...], IntArray]:
    """Encode channel labels as codes into their sorted vocabulary."""
    if isinstance(labels, pa.ChunkedArray):
        labels = labels.combine_chunks()
    encoded = pc.dictionary_encode(labels)
    found = np.asarray(encoded.dictionary.to_pylist(), dtype=object)
    order = np.argsort(found, kind="stable")
    rank = np.empty(len(found), dtype=np.int64)
    rank[order] = np.arange(len(found))
    indices = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    return tuple(str(c) for c in found[order]), rank[indices]


def _numbers(frame: pd.DataFrame, column: str, source: str) -> FloatArray:
    """A numeric column of a paths file: finite and not negative, else the rows that are not."""
    if column not in frame.columns:
        return np.zeros(len(frame))
    raw = frame[column]
    if pd.api.types.is_numeric_dtype(raw):
        numbers = raw.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        # A blank cell is a zero: spreadsheet exports leave empty totals blank.
        text = raw.astype("string").str.strip().replace("", "0")
        numbers = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(numbers) | (numbers < 0))
    if len(bad):
        problems = [
            Problem(
                f"{str(raw.iloc[i])!r} is not a number of 0 or more", source, int(i) + 2, column
            )
            for i in bad[:50]
        ]
        raise MissionlineError(f"{source}: {len(bad)} row(s) with an invalid {column}", problems)
    return numbers


def paths_from_frame(frame: pd.DataFrame, source: str = "paths") -> Paths:
    """Parse aggregated paths (``path`` as channels joined by " > ", and the totals)."""
    missing = [c for c in (PATH_COLUMN, "total_conversions") if c not in frame.columns]
    if missing:
        raise MissionlineError(
            f"{source}: missing column(s) {', '.join(missing)}; a paths file has the columns "
            f"{PATH_COLUMN}, {', '.join(NUMBER_COLUMNS)} (the last two optional)"
        )
    numbers = {c: _numbers(frame, c, source) for c in NUMBER_COLUMNS}
    text = pa.array(frame[PATH_COLUMN].astype("string").fillna(""), type=pa.string())
    if isinstance(text, pa.ChunkedArray):  # pandas' Arrow-backed strings come in chunks
        text = text.combine_chunks()
    lists = pc.split_pattern(text, SEPARATOR)
    flat = pc.utf8_trim_whitespace(lists.flatten())
    empty = np.flatnonzero(pc.equal(flat, "").to_numpy(zero_copy_only=False))
    if len(empty):
        rows = np.unique(pc.list_parent_indices(lists).to_numpy()[empty])
        problems = [
            Problem(
                f"{frame[PATH_COLUMN].iloc[r]!r} has an empty channel name; write channels "
                f"joined by ' {SEPARATOR} '",
                source,
                int(r) + 2,
                PATH_COLUMN,
            )
            for r in rows[:50]
        ]
        raise MissionlineError(f"{source}: {len(rows)} path(s) with an empty channel", problems)
    channels, codes = encode_labels(flat)
    offsets = lists.offsets.to_numpy().astype(np.int64)
    return Paths(
        channels,
        offsets,
        codes,
        numbers["total_conversions"],
        numbers["total_conversion_value"],
        numbers["total_null"],
    )


def read_paths_csv(path: Path | str) -> Paths:
    """Read a paths file in the common aggregated format (CSV with a header row)."""
    path = Path(path)
    if not path.is_file():
        raise MissionlineError(f"{path}: no such paths file")
    try:
        frame = pd.read_csv(path, dtype={PATH_COLUMN: str}, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise MissionlineError(f"{path}: not a readable CSV file ({error})") from None
    if frame.empty:
        raise MissionlineError(f"{path}: the file has no paths (only a header, or nothing)")
    return paths_from_frame(frame, str(path))
