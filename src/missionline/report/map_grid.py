"""Lanes and their grids: which boxes go in which function's column, and how many columns.

Boxes fill a lane's grid column by column; rows are shared by all lanes so that a layer reads
left to right across the page. The number of columns per lane is chosen for the whole page.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from missionline.alignment.mission_map import MapNode, MissionMap
from missionline.report.map_cards import card, header, mission_card, mission_width
from missionline.report.map_route import Slot
from missionline.report.map_text import clean, text_width

MARGIN, LABEL_W = 28.0, 40.0  # page margin; the column of rotated band labels
CW, CG, LP, LG = 188.0, 28.0, 18.0, 16.0  # card width, column gap, lane padding, lane gap
ROW_GAP, CHANNEL, HEADER_GAP = 22.0, 64.0, 26.0  # CHANNEL: room for curves between bands
MAX_COLS = 5
TOP = MARGIN + 66  # the title, subtitle and legend above the map


@dataclass(frozen=True)
class Lane:
    """A function's column: its header text and its boxes."""

    name: str
    purpose: str
    stages: tuple[str, ...]
    objectives: tuple[MapNode, ...]
    initiatives: tuple[MapNode, ...]


def unique(nodes: Sequence[MapNode]) -> list[MapNode]:
    """The nodes with the first of each id: one box per id, as the picture's ids must be."""
    first: dict[str, MapNode] = {}
    for node in nodes:
        first.setdefault(node.id, node)
    return list(first.values())


def lanes_of(m: MissionMap, nodes: Sequence[MapNode]) -> list[Lane]:
    """One lane per function, plus one for objectives and initiatives of no known function."""
    keys = [lane.id for lane in m.lanes]

    def members(key: str | None, kind: str) -> tuple[MapNode, ...]:
        return tuple(
            n
            for n in nodes
            if n.kind == kind and (n.function == key if key is not None else n.function not in keys)
        )

    lanes = [
        Lane(
            clean(f.name) or f.id,
            clean(f.purpose),
            tuple(f.stages),
            members(f.id, "objective"),
            members(f.id, "initiative"),
        )
        for f in m.lanes
    ]
    other = Lane(
        "Other",
        "No function in the plan",
        (),
        members(None, "objective"),
        members(None, "initiative"),
    )
    if other.objectives or other.initiatives or not lanes:
        lanes.append(other)
    return lanes


def _arrange(count: int, cols: int) -> tuple[list[tuple[int, int]], int]:
    """(row, column) of ``count`` boxes filled column by column, and the columns used.

    Column by column keeps boxes ordered left to right by where their parents are, so the
    lines into a lane stay short and mostly vertical.
    """
    depth = max(math.ceil(count / cols), 1)
    return [(i % depth, i // depth) for i in range(count)], math.ceil(count / depth)


def unlinked(m: MissionMap) -> frozenset[str]:
    """Ids of the boxes below the mission that no line connects to anything above them."""
    ids = {n.id for n in m.nodes}
    linked = {lower for upper, lower in m.edges if upper in ids and upper != lower}
    return frozenset(n.id for n in m.nodes if n.kind != "mission" and n.id not in linked)


def row_heights(members: Sequence[MapNode], cols: int, loose: frozenset[str]) -> list[float]:
    """Heights of the rows of ``members`` on a grid of ``cols`` columns."""
    heights: list[float] = []
    for node, (row, _) in zip(members, _arrange(len(members), cols)[0], strict=True):
        if row == len(heights):
            heights.append(0.0)
        heights[row] = max(heights[row], card(node, CW, node.id in loose).height)
    return heights


def merge(rows: Sequence[Sequence[float]]) -> list[float]:
    """Row heights shared by all lanes: each row as tall as its tallest box."""
    depth = max((len(r) for r in rows), default=0)
    return [max(r[i] for r in rows if i < len(r)) for i in range(depth)]


def span(rows: Sequence[float]) -> float:
    """Height of a block of rows with the gaps between them."""
    return sum(rows) + ROW_GAP * max(len(rows) - 1, 0)


def lane_width(cols: int) -> float:
    """Width of a lane with ``cols`` columns, padding included."""
    return cols * CW + (cols - 1) * CG + 2 * LP


def content_width(lanes: Sequence[Lane], cols: Sequence[int], m: MissionMap) -> float:
    """Width of the area right of the band labels: lanes, success factors, mission."""
    factors = sum(n.kind == "success_factor" for n in m.nodes)
    lanes_w = sum(lane_width(c) for c in cols) + LG * (len(cols) - 1)
    title = min(text_width(clean(m.title), 20, True) - LABEL_W, 900.0)  # a short title fits
    return max(lanes_w, factors * CW + (factors - 1) * 24, title, 520.0)


def page_size(
    lanes: Sequence[Lane], cols: Sequence[int], m: MissionMap, loose: frozenset[str]
) -> tuple[float, float]:
    """Approximate page size for a choice of columns (for choosing one)."""
    width = content_width(lanes, cols, m)
    head = max(
        header(lane.name, lane.purpose, lane.stages, lane_width(c))[0]
        for lane, c in zip(lanes, cols, strict=True)
    )
    obj = span(
        merge([row_heights(lane.objectives, c, loose) for lane, c in zip(lanes, cols, strict=True)])
    )
    ini = span(
        merge(
            [row_heights(lane.initiatives, c, loose) for lane, c in zip(lanes, cols, strict=True)]
        )
    )
    missions = [
        mission_card(n, mission_width(n, width)).height for n in m.nodes if n.kind == "mission"
    ]
    factors = [
        card(n, factor_width(m, width), n.id in loose).height
        for n in m.nodes
        if n.kind == "success_factor"
    ]
    above = TOP + max(missions, default=0) + max(factors, default=0) + 2 * CHANNEL
    return width + 2 * MARGIN + LABEL_W, above + head + obj + ini + 2 * CHANNEL + MARGIN


def factor_width(m: MissionMap, width: float) -> float:
    """Width of each success factor box: an equal share of the page, at most 250 px."""
    count = max(sum(n.kind == "success_factor" for n in m.nodes), 1)
    return min(250.0, width / count - 24)


def choose_columns(lanes: Sequence[Lane], m: MissionMap) -> list[int]:
    """Columns per lane that keep the page near 3:2 landscape and as narrow as that allows.

    Each lane can use between one column and as many as it has boxes in a row; small maps are
    searched exhaustively, large ones by improving one lane at a time.
    """
    limits = [
        min(MAX_COLS, max(1, len(ln.objectives), math.ceil(len(ln.initiatives) / 2)))
        for ln in lanes
    ]

    loose = unlinked(m)

    def cost(cols: Sequence[int]) -> float:
        width, height = page_size(lanes, cols, m, loose)
        return max(width / 1.5, height) + 0.05 * width

    if math.prod(limits) <= 4096:
        options = [list(o) for o in itertools.product(*(range(1, k + 1) for k in limits))]
        return min(options, key=cost)
    cols = [1] * len(lanes)
    while True:
        # one lane at a time, or all at once: lanes of equal height only shrink together
        moves = [
            [*cols[:i], c + d, *cols[i + 1 :]]
            for i, c in enumerate(cols)
            for d in (1, -1)
            if 1 <= c + d <= limits[i]
        ]
        moves += [
            [max(1, min(k, c + d)) for c, k in zip(cols, limits, strict=True)] for d in (1, -1)
        ]
        best = min(moves, key=cost, default=cols)
        if cost(best) >= cost(cols) - 1e-9:
            return cols
        cols = best


def grid(
    members: Sequence[MapNode],
    cols: int,
    x0: float,
    spans: Sequence[tuple[float, float]],
    band: int,
    lane: int,
) -> list[tuple[MapNode, Slot]]:
    """Slots of a lane's grid; rows are shared by all lanes, unused columns split either side."""
    cells, used = _arrange(len(members), cols)
    shift = (cols - used) * (CW + CG) / 2
    return [
        (
            node,
            Slot(
                x0 + shift + col * (CW + CG),
                spans[row][0],
                CW,
                spans[row][1] - spans[row][0],
                band,
                lane,
                row,
            ),
        )
        for node, (row, col) in zip(members, cells, strict=True)
    ]


def gutters(x: float, width: float, lefts: Sequence[float]) -> list[tuple[float, float]]:
    """Gutters (centre, half width) of a lane's grid whose columns start at ``lefts``.

    Between the columns actually used, and on either side of them: in the lane's padding
    when the grid is full width, or beside the outer columns when it is centred.
    """
    cols = sorted(set(lefts))
    inner = [((u + CW + v) / 2, CG / 2) for u, v in itertools.pairwise(cols)]
    first, last = (cols[0], cols[-1] + CW) if cols else (x + LP, x + LP)
    before = (first - CG / 2, CG / 2) if first > x + LP + 1 else (x + LP / 2, LP / 2)
    after = (last + CG / 2, CG / 2) if last < x + width - LP - 1 else (x + width - LP / 2, LP / 2)
    return [before, *inner, after]


def row_spans(top: float, rows: Sequence[float]) -> list[tuple[float, float]]:
    """(top, bottom) of each row of a block that starts at ``top``."""
    spans, y = [], top
    for h in rows:
        spans.append((y, y + h))
        y += h + ROW_GAP
    return spans
