"""The drawable pieces of the mission map: text lines, boxes and what goes inside each box.

A box's width is chosen by the layout; its height follows from its wrapped text, so text always
fits. Positions here are relative to the box's top left corner until the layout moves them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Literal

from missionline.alignment.mission_map import MapNode
from missionline.report.map_text import clean, ellipsize, text_width, wrap

Anchor = Literal["start", "middle", "end"]
Role = Literal["lane", "header", "chip", "node", "legend"]
Command = tuple[str, tuple[float, ...]]

INK, MUTED, NAVY = "#1b2733", "#4f5e72", "#1f3a5f"
LANE_BG, HEADER_BG, EDGE = "#f3f6f9", "#e1e8f0", "#98a6b8"
# status -> (fill, stroke and text colour, words); None (no data given) draws like "no_data".
STATUS_STYLE: dict[str, tuple[str, str, str]] = {
    "on_track": ("#e4f3e7", "#2e7d32", "On track"),
    "at_risk": ("#fff1da", "#b86e00", "At risk"),
    "off_track": ("#fde6e4", "#c62828", "Off track"),
    "no_data": ("#edf0f3", "#7d8a99", "No data"),
}
INITIATIVE_STYLE = ("#ffffff", "#aab6c5", "Initiative")
DOT, SEP = "\u25cf", " \u00b7 "  # the status dot; the separator of detail parts
LOOSE = "#a14a2a"  # the note on a box that supports nothing above it
# what a box that links to nothing above it says, by kind: plan gaps are meant to be seen
LOOSE_NOTE = {
    "success_factor": "Not linked to the mission",
    "objective": "Not linked to a success factor",
    "initiative": "Not linked to an objective",
}


@dataclass(frozen=True)
class TextLine:
    """One line of text: baseline position, font and colour (``rotate`` in degrees, clockwise)."""

    x: float
    y: float
    text: str
    size: float
    color: str
    bold: bool = False
    italic: bool = False
    anchor: Anchor = "start"
    rotate: float = 0.0


@dataclass(frozen=True)
class Box:
    """A rounded rectangle with its text; ``node`` is set for the boxes of map nodes."""

    role: Role
    x: float
    y: float
    w: float
    h: float
    fill: str
    stroke: str | None = None
    radius: float = 0.0
    accent: str | None = None
    lines: tuple[TextLine, ...] = ()
    node: str | None = None
    kind: str = ""
    status: str | None = None
    tooltip: str = ""
    dashed: bool = False


@dataclass(frozen=True)
class Card:
    """A box's text wrapped to its width, and the height that text needs."""

    height: float
    lines: tuple[TextLine, ...]


class _Stack:
    """Lines of text laid out from the top down, for a box that grows with its text."""

    def __init__(self, x: float, top: float, anchor: Anchor = "start") -> None:
        self.x, self.y, self.anchor = x, top, anchor
        self.lines: list[TextLine] = []

    def add(
        self,
        texts: Sequence[str],
        size: float,
        lead: float,
        color: str,
        bold: bool = False,
        italic: bool = False,
    ) -> None:
        for text in texts:
            # a baseline 0.35 em below the middle of the line box centres mixed-case text
            baseline = self.y + lead / 2 + size * 0.35
            self.lines.append(
                TextLine(self.x, baseline, text, size, color, bold, italic, self.anchor)
            )
            self.y += lead


def node_style(node: MapNode) -> tuple[str, str, str | None]:
    """Fill, stroke and status words of a node's box."""
    if node.kind == "initiative" and node.status is None:
        return INITIATIVE_STYLE[0], INITIATIVE_STYLE[1], None
    fill, stroke, words = STATUS_STYLE.get(node.status or "no_data", STATUS_STYLE["no_data"])
    return fill, stroke, words if node.status else None


@lru_cache(maxsize=4096)
def card(node: MapNode, width: float, loose: bool = False) -> Card:
    """Text of a success factor, objective or initiative box wrapped to ``width``.

    A ``loose`` box links to nothing above it and says so on its last line.
    """
    _, stroke, words = node_style(node)
    inner = width - 26
    stack = _Stack(16, 10)
    size = 12.0 if node.kind == "initiative" else 13.0
    stack.add(wrap(node.label, inner, size, True, 4), size, size + 3.5, INK, bold=True)
    detail = clean(node.detail)
    # one line per part ("metric: target ...", "actual ..."), so actual and target line up
    for part in detail.split(SEP.strip()) if detail else []:
        stack.y += 2
        stack.add(wrap(part, inner, 11, max_lines=3), 11, 14, MUTED)
    if words:
        stack.y += 3
        stack.add([f"{DOT} {words}"], 10.5, 14, stroke, bold=True)
    if loose and node.kind in LOOSE_NOTE:
        stack.y += 2
        stack.add(
            wrap(LOOSE_NOTE[node.kind], inner, 10.5, max_lines=2), 10.5, 14, LOOSE, italic=True
        )
    return Card(stack.y + 10, tuple(stack.lines))


@lru_cache(maxsize=256)
def mission_card(node: MapNode, width: float) -> Card:
    """The mission box: the company in bold and the statement, centred."""
    stack = _Stack(width / 2, 14, "middle")
    stack.add(wrap(node.label, width - 40, 17, True, 2), 17, 22, "#ffffff", bold=True)
    stack.y += 4
    stack.add(wrap(node.detail, width - 48, 13, max_lines=6), 13, 18, "#d6e2f0", italic=True)
    return Card(stack.y + 14, tuple(stack.lines))


def mission_width(node: MapNode, room: float) -> float:
    """Wide enough for the statement on few lines, never wider than the room given."""
    wanted = max(text_width(clean(node.detail), 13), text_width(clean(node.label), 17, True)) + 56
    return min(room, 780.0, max(420.0, wanted))


@lru_cache(maxsize=1024)
def header(
    name: str, purpose: str, stages: tuple[str, ...], width: float
) -> tuple[float, tuple[Box, ...]]:
    """A lane's header box (name, purpose) and its stage chips, at the origin; and its height."""
    inner = width - 28
    stack = _Stack(14, 10)
    stack.add(wrap(name, inner, 14.5, True, 2), 14.5, 19, NAVY, bold=True)
    if purpose:
        stack.y += 2
        stack.add(wrap(purpose, inner, 11.5, max_lines=4), 11.5, 15, MUTED, italic=True)
    chips: list[Box] = []
    x, y = 14.0, stack.y + 7
    for stage in stages:
        text = ellipsize(clean(stage), inner - 14, 10.5)
        w = text_width(text, 10.5) + 14
        if x > 14 and x + w > width - 14:  # wrap chips onto a new line
            x, y = 14.0, y + 23
        line = TextLine(x + w / 2, y + 13, text, 10.5, "#33435a", anchor="middle")
        chips.append(Box("chip", x, y, w, 18, "#ffffff", "#c3cedb", 9, lines=(line,)))
        x += w + 5
    height = (y + 18 if chips else stack.y) + 11
    box = Box("header", 0, 0, width, height, HEADER_BG, None, 10, lines=tuple(stack.lines))
    return height, (box, *chips)


def legend(right: float, top: float, loose: bool) -> tuple[list[Box], list[TextLine], float]:
    """Swatches for each status and for initiatives, ending at ``right``; and their width.

    With ``loose``, one more for boxes that link to nothing above them.
    """
    items = [*STATUS_STYLE.values(), INITIATIVE_STYLE]
    items += [("#ffffff", LOOSE, "Not linked")] if loose else []
    boxes, texts, x = [], [], right
    for fill, stroke, words in reversed(items):
        x -= text_width(words, 11.5)
        texts.append(TextLine(x, top + 10, words, 11.5, INK))
        x -= 22
        dashed = words == "Not linked"
        boxes.append(Box("legend", x, top + 0.5, 16, 12, fill, stroke, 3, dashed=dashed))
        x -= 16
    return boxes, texts, right - x - 16


def moved(boxes: Sequence[Box], dx: float, dy: float) -> list[Box]:
    """``boxes`` with their text moved by ``(dx, dy)``."""
    return [
        replace(b, x=b.x + dx, y=b.y + dy, lines=tuple(moved_lines(b.lines, dx, dy))) for b in boxes
    ]


def moved_lines(lines: Sequence[TextLine], dx: float, dy: float) -> list[TextLine]:
    """``lines`` moved by ``(dx, dy)``."""
    return [replace(t, x=t.x + dx, y=t.y + dy) for t in lines]


def accent_path(box: Box) -> tuple[Command, ...]:
    """The coloured strip down a box's left side: as wide as the corner radius, so it is exact."""
    r, k = box.radius, box.radius * 0.5523  # k: control distance of a cubic quarter circle
    x, y, h = box.x, box.y, box.h
    return (
        ("M", (x + r, y)),
        ("L", (x + r, y + h)),
        ("C", (x + r - k, y + h, x, y + h - r + k, x, y + h - r)),
        ("L", (x, y + r)),
        ("C", (x, y + r - k, x + r - k, y, x + r, y)),
        ("Z", ()),
    )
