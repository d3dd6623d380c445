"""Static PNG of a mission map layout with matplotlib, drawn without a browser.

The figure is made with ``Figure`` and the Agg canvas directly, not through ``pyplot``: that
needs no global backend switch and leaves other callers' matplotlib state alone.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch, PathPatch
from matplotlib.path import Path as MplPath

from missionline.report.map_cards import EDGE, Box, TextLine, accent_path
from missionline.report.map_layout import Layout

PT = 0.75  # points per CSS pixel: the layout is in CSS px (1/96 in), fonts and lines in points
FONT = "DejaVu Sans"  # bundled with matplotlib; the text measurements are its advance widths
_CODES = {"M": [int(MplPath.MOVETO)], "L": [int(MplPath.LINETO)], "C": [int(MplPath.CURVE4)] * 3}
_ALIGN = {"start": "left", "middle": "center", "end": "right"}


def _path(commands: tuple[tuple[str, tuple[float, ...]], ...]) -> MplPath:
    vertices: list[tuple[float, float]] = []
    codes: list[int] = []
    for op, values in commands:
        if op == "Z":
            vertices.append(vertices[0])
            codes.append(int(MplPath.CLOSEPOLY))
            continue
        vertices += list(zip(values[::2], values[1::2], strict=True))
        codes += _CODES[op]
    return MplPath(vertices, codes)


def _box(figure: Figure, box: Box, z: float) -> None:
    axes = figure.axes[0]
    axes.add_patch(
        FancyBboxPatch(
            (box.x, box.y),
            box.w,
            box.h,
            boxstyle=f"round,pad=0,rounding_size={box.radius}",
            facecolor=box.fill,
            edgecolor=box.stroke or "none",
            linewidth=1.2 * PT if box.stroke else 0,
            linestyle=(0, (4, 3)) if box.dashed else "solid",
            zorder=z,
        )
    )
    if box.accent:
        axes.add_patch(PathPatch(_path(accent_path(box)), facecolor=box.accent, lw=0, zorder=z))
    for line in box.lines:
        _text(figure, line, 4)


def _text(figure: Figure, line: TextLine, z: float) -> None:
    figure.axes[0].text(
        line.x,
        line.y,
        line.text,
        fontsize=line.size * PT,
        color=line.color,
        family=FONT,
        fontweight="bold" if line.bold else "normal",
        fontstyle="italic" if line.italic else "normal",
        ha=_ALIGN[line.anchor],
        va="baseline",
        rotation=-line.rotate,  # SVG turns clockwise, matplotlib counter-clockwise
        rotation_mode="anchor",
        parse_math=False,  # plan text is literal: "$1M to $2M" is not mathtext
        zorder=z,
    )


def draw_png(lay: Layout, path: Path, dpi: int) -> None:
    """Draw ``lay`` into a PNG file at ``path``."""
    figure = Figure(figsize=(lay.width / 96, lay.height / 96), dpi=dpi, facecolor="white")
    FigureCanvasAgg(figure)
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_xlim(0, lay.width)
    axes.set_ylim(lay.height, 0)  # y grows downwards, as in SVG
    axes.set_axis_off()
    for box in lay.lanes:
        _box(figure, box, 1)
    for edge in lay.edges:
        patch = PathPatch(
            _path(edge.commands), facecolor="none", edgecolor=EDGE, lw=1.4 * PT, zorder=2
        )
        axes.add_patch(patch)
    for i, box in enumerate(lay.boxes):
        _box(figure, box, 3 + i * 1e-5)  # chips over their header
    for line in lay.texts:
        _text(figure, line, 5)
    figure.savefig(path, dpi=dpi, facecolor="white")
