"""Edge routing for the mission map: lines that never cross a box.

An edge leaves the bottom of its upper node and enters the top of its lower node. Between bands
it is a smooth S-curve; where it must pass a band of boxes it runs straight down a free gutter
(between grid columns, in a lane's padding, between success factors) or behind a function's
header, which it crosses vertically so that it leaves the header where it went in. Edges that
share a gutter get their own track, and edges that meet at a box are spread along its side,
so each line can be followed by eye.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

MISSION, FACTOR, HEADER, OBJECTIVE, INITIATIVE = range(5)  # band numbers, top to bottom
BLOCKS = (OBJECTIVE, INITIATIVE)
TRACK = 5.0  # px between parallel lines in a gutter
Command = tuple[str, tuple[float, ...]]


@dataclass(frozen=True)
class EdgePath:
    """One supports relation as path commands (``M``, ``L``, ``C`` with absolute points)."""

    source: str
    target: str
    commands: tuple[Command, ...]


@dataclass(frozen=True)
class Slot:
    """Where a node sits: its box, band, lane (-1 outside lanes) and grid row."""

    x: float
    y: float
    w: float
    h: float
    band: int
    lane: int
    row: int

    @property
    def cx(self) -> float:
        """Horizontal centre."""
        return self.x + self.w / 2


@dataclass(frozen=True)
class Frame:
    """The free space edges may use: band spans, row spans and vertical gutters per lane."""

    bands: dict[int, tuple[float, float]]
    rows: dict[int, list[tuple[float, float]]]  # per block band, shared by all lanes
    gutters: dict[tuple[int, int], list[tuple[float, float]]]  # (lane, band) -> (x, half width)
    cells: dict[tuple[int, int], list[Slot]]  # (lane, band) -> the boxes of that grid
    factor_gaps: list[tuple[float, float]]  # (x, half width) around the success factors


@dataclass
class _Run:
    """A vertical stretch of an edge; consecutive runs are joined by curves.

    ``exit`` and ``entry`` are the two ends: on the bottom or top of a box (``side`` 0), or on
    its left (-1) or right (1) side where the edge meets a gutter inside a grid.
    """

    kind: Literal["exit", "gutter", "follow", "entry"]
    x: float
    y0: float
    y1: float
    key: tuple[int, ...] = ()
    half: float = 0.0
    side: int = 0


def _gutter(frame: Frame, lane: int, band: int, near: float, side: int = 0) -> _Run:
    """A gutter of a lane's grid: the nearest to ``near``, or the first on ``side`` of it."""
    options = list(enumerate(frame.gutters[(lane, band)]))
    if side:
        options = [o for o in options if (o[1][0] - near) * side > 0] or options
    index, (x, half) = min(options, key=lambda o: abs(o[1][0] - near))
    return _Run("gutter", x, 0, 0, (lane, band, index), half)


def _skeleton(a: Slot, b: Slot, frame: Frame) -> list[_Run] | None:
    """The runs of an edge from ``a`` down to ``b``, before tracks and spreading."""
    if a.band >= b.band:
        return None
    runs = [_Run("exit", a.cx, a.y + a.h, a.y + a.h)]
    if a.band in BLOCKS and any(c.row > a.row for c in frame.cells[(a.lane, a.band)]):
        # boxes below in its own grid: leave by the side, down the next gutter
        side = -1 if b.cx < a.cx else 1
        run = _gutter(frame, a.lane, a.band, a.cx + side * a.w / 2, side)
        side = -1 if run.x < a.cx else 1
        mid = a.y + a.h / 2
        runs = [_Run("exit", a.cx + side * a.w / 2, mid, mid, side=side), run]
        run.y0, run.y1 = mid, frame.bands[a.band][1]
    for band in range(a.band + 1, b.band):
        if band not in frame.bands:
            continue
        top, bottom = frame.bands[band]
        if band == HEADER:  # hidden behind the header; takes the x of the run after it
            runs.append(_Run("follow", 0, top, bottom))
            continue
        if band == FACTOR:
            index, (x, half) = min(enumerate(frame.factor_gaps), key=lambda g: abs(g[1][0] - b.cx))
            run = _Run("gutter", x, 0, 0, (-1, FACTOR, index), half)
        else:
            run = _gutter(frame, b.lane, band, b.cx)
        run.y0, run.y1 = top, bottom
        runs.append(run)
    if b.band in BLOCKS and b.row > 0:  # down the gutter beside it, in through its side
        before = next(r.x for r in reversed(runs) if r.kind != "follow")
        side = -1 if before < b.cx else 1
        run = _gutter(frame, b.lane, b.band, b.cx + side * b.w / 2, side)
        side = -1 if run.x < b.cx else 1
        mid = b.y + b.h / 2
        run.y0, run.y1 = frame.bands[b.band][0], mid
        runs += [run, _Run("entry", b.cx + side * b.w / 2, mid, mid, side=side)]
    else:
        runs.append(_Run("entry", b.cx, b.y, b.y))
    return runs


def _track_order(runs: Sequence[_Run], i: int) -> float:
    """Where a gutter run goes among its gutter's tracks, left to right, to avoid crossings.

    Lines turning out of the gutter early sit nearest the side they turn to; lines joining
    it from a box late sit farthest out on the side they come from.
    """
    run, before, after = runs[i], runs[i - 1], runs[i + 1]
    if after.kind == "entry" and after.side:
        return -after.side * (10000 - run.y1)
    if before.kind == "exit" and before.side:
        return -before.side * (10000 + run.y0)
    return (after.x - run.x) * 0.01


def _spread_ends(ends: list[tuple[float, _Run]], lo: float, hi: float, along_x: bool) -> None:
    """Distribute several edge ends along a box side between ``lo`` and ``hi``, in order."""
    ends.sort(key=lambda item: item[0])
    step = min(14.0 if along_x else 8.0, (hi - lo) * 0.6 / max(len(ends) - 1, 1))
    centre = (lo + hi) / 2
    for i, (_, run) in enumerate(ends):
        value = centre + (i - (len(ends) - 1) / 2) * step
        if along_x:
            run.x = value
        else:
            run.y0 = run.y1 = value


def _s_curve(x0: float, y0: float, x1: float, y1: float) -> Command:
    """A vertical-tangent S-curve; it stays inside the rectangle of its two ends."""
    if abs(x1 - x0) < 0.01:
        return ("L", (x1, y1))
    # control points 0.4 of the height in: steep enough in the middle that long parallel
    # curves fan out instead of merging into one thick band
    k = (y1 - y0) * 0.4
    return ("C", (x0, y0 + k, x1, y1 - k, x1, y1))


def _corner(x0: float, y0: float, x1: float, y1: float, down_first: bool) -> Command:
    """A quarter-circle turn from (x0, y0) to (x1, y1), as a cubic."""
    k = 0.4477  # 1 - 0.5523: where a cubic quarter circle puts its control points
    if down_first:
        return ("C", (x0, y0 + (y1 - y0) * (1 - k), x1 - (x1 - x0) * (1 - k), y1, x1, y1))
    return ("C", (x0 + (x1 - x0) * (1 - k), y0, x1, y1 - (y1 - y0) * (1 - k), x1, y1))


def _commands(runs: Sequence[_Run]) -> tuple[Command, ...]:
    """Path commands through the runs: straight down each, curves between them."""
    commands: list[Command] = [("M", (runs[0].x, runs[0].y1))]
    for i in range(1, len(runs)):
        prev, run = runs[i - 1], runs[i]
        nxt = runs[i + 1] if i + 1 < len(runs) else None
        y0 = run.y0
        if prev.kind == "exit" and prev.side:  # out of a box side, turning down the gutter
            r = min(8.0, abs(run.x - prev.x) / 2, (run.y1 - run.y0) / 2)
            s = 1 if run.x > prev.x else -1
            commands += [
                ("L", (run.x - s * r, prev.y1)),
                _corner(run.x - s * r, prev.y1, run.x, prev.y1 + r, False),
            ]
            y0 = prev.y1 + r
        elif run.kind == "entry" and run.side:  # the gutter turned into the box side
            r = min(8.0, abs(run.x - prev.x) / 2)
            s = 1 if run.x > prev.x else -1
            commands += [
                _corner(prev.x, run.y0 - r, prev.x + s * r, run.y0, True),
                ("L", (run.x, run.y0)),
            ]
            continue
        else:
            commands.append(_s_curve(prev.x, prev.y1, run.x, run.y0))
        end = run.y1
        if nxt is not None and nxt.kind == "entry" and nxt.side:
            end -= min(8.0, abs(nxt.x - run.x) / 2)
        if end > y0:
            commands.append(("L", (run.x, end)))
    return tuple(commands)


def _fallback(a: Slot, b: Slot) -> tuple[Command, ...]:
    """A plain curve for an edge that does not go down the map (not made by the plan)."""
    start, end = (a.cx, a.y + a.h), (b.cx, b.y)
    bend = max(abs(end[1] - start[1]) / 2, 40.0)
    return (("M", start), ("C", (start[0], start[1] + bend, end[0], end[1] - bend, *end)))


def route_edges(
    edges: Sequence[tuple[str, str]], slots: dict[str, Slot], frame: Frame
) -> list[EdgePath]:
    """Paths for the edges whose two ends are on the map, in the order given."""
    known = [(a, b) for a, b in edges if a in slots and b in slots]
    skeletons = [_skeleton(slots[a], slots[b], frame) for a, b in known]
    tracks: dict[tuple[int, ...], list[tuple[float, _Run]]] = defaultdict(list)
    for found in filter(None, skeletons):
        for i, run in enumerate(found):
            if run.kind == "gutter":
                tracks[run.key].append((_track_order(found, i), run))
    for items in tracks.values():  # parallel lines in a shared gutter, a few px apart
        items.sort(key=lambda item: item[0])
        step = min(TRACK, (2 * items[0][1].half - 4) / len(items))
        for i, (_, run) in enumerate(items):
            run.x += (i - (len(items) - 1) / 2) * step
    ends: dict[tuple[str, int, int], list[tuple[float, _Run]]] = defaultdict(list)
    for (a, b), runs in zip(known, skeletons, strict=True):
        if runs is None:
            continue
        first, last = runs[0], runs[-1]
        after = next(r.x for r in runs[1:] if r.kind != "follow")
        before = next(r.x for r in reversed(runs[:-1]) if r.kind != "follow")
        # top and bottom ends in the order of where they go; side ends nearest track first
        ends[(a, 1, first.side)].append((-abs(after - first.x) if first.side else after, first))
        ends[(b, 0, last.side)].append((abs(before - last.x) if last.side else before, last))
    for (node, _, side), items in ends.items():
        slot = slots[node]
        if side:
            _spread_ends(items, slot.y, slot.y + slot.h, along_x=False)
        else:
            _spread_ends(items, slot.x, slot.x + slot.w, along_x=True)
    paths = []
    for (a, b), runs in zip(known, skeletons, strict=True):
        if runs is None:
            paths.append(EdgePath(a, b, _fallback(slots[a], slots[b])))
            continue
        for i in range(len(runs) - 2, 0, -1):  # a header crossing goes straight down
            if runs[i].kind == "follow":
                runs[i].x = runs[i + 1].x
        if runs[0].side:  # a side exit moved by spreading: its gutter starts there
            runs[1].y0 = runs[0].y1
        if runs[-1].side:
            runs[-2].y1 = runs[-1].y0
        paths.append(EdgePath(a, b, _commands(runs)))
    return paths
