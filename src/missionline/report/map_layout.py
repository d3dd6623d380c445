"""Where everything on the mission map goes: one geometry that every renderer draws.

Bands from top to bottom: title and legend, the mission, the success factors, the function
headers, the objectives and the initiatives. Functions are columns (lanes); inside a lane the
objectives and initiatives sit on a grid whose rows line up across lanes, so a reader can scan a
layer from left to right. Units are CSS pixels.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace

from missionline.alignment.mission_map import MapNode, MissionMap
from missionline.report.map_cards import (
    INK,
    LANE_BG,
    LOOSE_NOTE,
    MUTED,
    NAVY,
    SEP,
    Box,
    Card,
    TextLine,
    card,
    header,
    legend,
    mission_card,
    mission_width,
    moved,
    moved_lines,
    node_style,
)
from missionline.report.map_grid import (
    CHANNEL,
    CW,
    HEADER_GAP,
    LABEL_W,
    LG,
    LP,
    MARGIN,
    TOP,
    choose_columns,
    content_width,
    factor_width,
    grid,
    gutters,
    lane_width,
    lanes_of,
    merge,
    row_heights,
    row_spans,
    unique,
    unlinked,
)
from missionline.report.map_route import (
    BLOCKS,
    FACTOR,
    HEADER,
    MISSION,
    OBJECTIVE,
    EdgePath,
    Frame,
    Slot,
    route_edges,
)
from missionline.report.map_text import clean, ellipsize, text_width

SUBTITLE = "How each function's objectives and initiatives serve the success factors."


@dataclass(frozen=True)
class Layout:
    """Positions and sizes of everything on the map, in drawing order by field."""

    title: str
    width: float
    height: float
    lanes: tuple[Box, ...]  # lane backgrounds, drawn first
    edges: tuple[EdgePath, ...]
    boxes: tuple[Box, ...]  # headers, chips, nodes and legend swatches, drawn over the edges
    texts: tuple[TextLine, ...]  # title, band labels, legend words

    @property
    def nodes(self) -> tuple[Box, ...]:
        """The boxes of the map's nodes, one per node id."""
        return tuple(b for b in self.boxes if b.role == "node")


def _node_box(node: MapNode, slot: Slot, text: Card, loose: bool) -> Box:
    """A node's box at its slot, styled by kind and status; ``loose``: links to nothing above."""
    fill, stroke, words = node_style(node)
    note = LOOSE_NOTE.get(node.kind, "") if loose else ""
    parts = [clean(node.label), *(p.strip() for p in clean(node.detail).split(SEP.strip()))]
    tip = "\n".join(p for p in [*parts, words, note] if p)  # the tooltip: one part a line
    mission = node.kind == "mission"
    return Box(
        "node",
        slot.x,
        slot.y,
        slot.w,
        slot.h,
        NAVY if mission else fill,
        NAVY if mission else stroke,
        radius=10 if mission else 6,
        accent=None if mission else stroke,
        lines=tuple(moved_lines(text.lines, slot.x, slot.y)),
        node=node.id,
        kind=node.kind,
        status=node.status,
        tooltip=tip,
        dashed=loose,
    )


def _band_label(text: str, top: float, bottom: float) -> list[TextLine]:
    """A band's name written upwards in the left column, on two lines if the band is short."""
    words = text.split(" ")
    lines = (
        [text]
        if text_width(text, 10, True) <= bottom - top or len(words) == 1
        else [" ".join(words[: len(words) // 2]), " ".join(words[len(words) // 2 :])]
    )
    x0 = MARGIN + 14 - 6 * (len(lines) - 1)
    return [
        TextLine(
            x0 + 12 * i, (top + bottom) / 2, t, 10, "#7b8898", True, anchor="middle", rotate=-90
        )
        for i, t in enumerate(lines)
    ]


def _ordered(
    members: Sequence[MapNode], parents: dict[str, list[str]], slots: dict[str, Slot]
) -> list[MapNode]:
    """``members`` sorted by the mean x of their placed parents, so lines cross less."""

    def key(item: tuple[int, MapNode]) -> tuple[float, int]:
        xs = [slots[p].cx for p in parents.get(item[1].id, []) if p in slots]
        return (sum(xs) / len(xs) if xs else math.inf, item[0])

    return [node for _, node in sorted(enumerate(members), key=key)]


class _Page:
    """The layout under construction: what is placed so far, top to bottom."""

    def __init__(self, m: MissionMap) -> None:
        self.m = m
        self.nodes = unique(m.nodes)
        self.parents: dict[str, list[str]] = defaultdict(list)
        for upper, lower in m.edges:
            self.parents[lower].append(upper)
        self.lanes = lanes_of(m, self.nodes)
        self.loose = unlinked(m)
        self.cols = choose_columns(self.lanes, m)
        self.content_w = content_width(self.lanes, self.cols, m)
        self.x0 = MARGIN + LABEL_W
        self.width = self.x0 + self.content_w + MARGIN
        self.slots: dict[str, Slot] = {}
        self.cards: dict[str, Card] = {}
        self.bands: dict[int, tuple[float, float]] = {}
        self.rows: dict[int, list[tuple[float, float]]] = {}
        self.cells: dict[tuple[int, int], list[Slot]] = {}
        self.gutters: dict[tuple[int, int], list[tuple[float, float]]] = {}
        self.gaps: list[tuple[float, float]] = []
        self.lane_boxes: list[Box] = []
        self.boxes: list[Box] = []
        self.texts: list[TextLine] = []

    def title(self) -> float:
        """Title, subtitle and legend; returns where the map below them starts."""
        boxes, texts, legend_w = legend(self.width - MARGIN, MARGIN + 4, bool(self.loose))
        title = clean(self.m.title)
        room = self.width - 2 * MARGIN - legend_w - 32
        top = TOP
        if room < min(text_width(title, 20, True), 360):  # too narrow: legend under subtitle
            dx, dy = MARGIN - (self.width - MARGIN - legend_w), 56
            boxes, texts = moved(boxes, dx, dy), moved_lines(texts, dx, dy)
            room, top = self.width - 2 * MARGIN, top + 28
        self.boxes += boxes
        self.texts += [
            TextLine(MARGIN, MARGIN + 18, ellipsize(title, room, 20, True), 20, INK, True),
            TextLine(MARGIN, MARGIN + 40, ellipsize(SUBTITLE, room, 12), 12, MUTED),
            *texts,
        ]
        return top

    def missions(self, y: float) -> float:
        """The mission box (or boxes, side by side) centred on top."""
        missions = [n for n in self.nodes if n.kind == "mission"]
        if not missions:
            return y
        each = (self.content_w - 24 * (len(missions) - 1)) / len(missions)
        widths = [mission_width(n, each) for n in missions]
        h = max(mission_card(n, w).height for n, w in zip(missions, widths, strict=True))
        x = self.x0 + (self.content_w - sum(widths) - 24 * (len(missions) - 1)) / 2
        for n, w in zip(missions, widths, strict=True):
            self.slots[n.id], self.cards[n.id] = (
                Slot(x, y, w, h, MISSION, -1, 0),
                mission_card(n, w),
            )
            x += w + 24
        self.bands[MISSION] = (y, y + h)
        return y + h + CHANNEL * 0.75

    def factors(self, y: float) -> float:
        """The success factors in one row, evenly spread over the map's width."""
        factors = [n for n in self.nodes if n.kind == "success_factor"]
        if not factors:
            return y
        pitch = self.content_w / len(factors)
        w = factor_width(self.m, self.content_w)
        h = max(card(n, w, n.id in self.loose).height for n in factors)
        for i, n in enumerate(factors):
            x = self.x0 + pitch * (i + 0.5) - w / 2
            self.slots[n.id], self.cards[n.id] = (
                Slot(x, y, w, h, FACTOR, -1, 0),
                card(n, w, n.id in self.loose),
            )
        # edges that skip this band (mission to objective) pass between the boxes
        self.gaps = [(self.x0 + pitch * i, (pitch - w) / 2) for i in range(len(factors) + 1)]
        self.bands[FACTOR] = (y, y + h)
        return y + h + CHANNEL * 1.3

    def lanes_block(self, top: float) -> float:
        """Lane backgrounds and headers, then the objective and initiative grids."""
        widths = [lane_width(c) for c in self.cols]
        left = self.x0 + (self.content_w - sum(widths) - LG * (len(widths) - 1)) / 2
        xs = list(itertools.accumulate([left] + [w + LG for w in widths[:-1]]))
        heads = [
            header(lane.name, lane.purpose, lane.stages, w)
            for lane, w in zip(self.lanes, widths, strict=True)
        ]
        head_h = max(h for h, _ in heads)
        self.bands[HEADER] = (top, top + head_h)
        y = top + head_h + HEADER_GAP
        for band in BLOCKS:
            pick = "objectives" if band == OBJECTIVE else "initiatives"
            members = [_ordered(getattr(ln, pick), self.parents, self.slots) for ln in self.lanes]
            heights = merge(
                [row_heights(ms, c, self.loose) for ms, c in zip(members, self.cols, strict=True)]
            )
            spans = row_spans(y, heights)
            for i, (ms, c, x) in enumerate(zip(members, self.cols, xs, strict=True)):
                placed = grid(ms, c, x + LP, spans, band, i)
                self.cells[(i, band)] = [slot for _, slot in placed]
                for n, slot in placed:
                    self.slots[n.id], self.cards[n.id] = slot, card(n, CW, n.id in self.loose)
                self.gutters[(i, band)] = gutters(x, widths[i], [s.x for _, s in placed])
            if spans:
                self.rows[band] = spans
                self.bands[band] = (y, spans[-1][1])
                y = spans[-1][1] + CHANNEL
        bottom = y - (CHANNEL if self.rows else HEADER_GAP) + 18
        for (_, (head, *chips)), x, w in zip(heads, xs, widths, strict=True):
            self.lane_boxes.append(Box("lane", x, top, w, bottom - top, LANE_BG, None, 10))
            self.boxes += moved([replace(head, h=head_h), *chips], x, top)
        return bottom

    def finish(self, bottom: float) -> Layout:
        """Band labels, node boxes and routed edges."""
        names = ("MISSION", "SUCCESS FACTORS", "FUNCTIONS", "OBJECTIVES", "INITIATIVES")
        for band, name in enumerate(names):
            if band in self.bands:
                self.texts += _band_label(name, *self.bands[band])
        node_of = {n.id: n for n in self.nodes}
        self.boxes += [
            _node_box(node_of[k], s, self.cards[k], k in self.loose) for k, s in self.slots.items()
        ]
        frame = Frame(self.bands, self.rows, self.gutters, self.cells, self.gaps)
        edges = route_edges(self.m.edges, self.slots, frame)
        return Layout(
            clean(self.m.title),
            self.width,
            bottom + MARGIN,
            tuple(self.lane_boxes),
            tuple(edges),
            tuple(self.boxes),
            tuple(self.texts),
        )


def layout(m: MissionMap) -> Layout:
    """Place every box of ``m`` and route its edges: the geometry all renderers share."""
    page = _Page(m)
    y = page.title()
    y = page.factors(page.missions(y))
    return page.finish(page.lanes_block(y))
