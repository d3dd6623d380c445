"""The mission map picture: how each function's role and metrics connect to business results.

The mission sits on top, its success factors below it, then one lane per function (its name,
purpose and the lifecycle stages it owns) holding the function's objectives, and the
initiatives at the bottom under their function. Lines are the supports relations; target boxes
are coloured by status against target. One :func:`layout` feeds every output: SVG, an
interactive HTML page or fragment, and a static PNG.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from missionline.alignment.mission_map import MissionMap
from missionline.errors import MissionlineError
from missionline.report.map_layout import Layout, layout
from missionline.report.map_svg import svg_text

__all__ = [
    "Layout",
    "layout",
    "render_html",
    "render_png",
    "render_svg",
    "svg_fragment",
    "write_map",
]

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ margin: 24px; font-family: sans-serif; color: #1b2733; background: #ffffff; }}
p.ml-help {{ margin: 0 0 12px; color: #4f5e72; font-size: 13px; }}
div.ml-map {{ overflow-x: auto; }}
</style>
</head>
<body>
<p class="ml-help">Hover a box for its metric. Click a box to highlight its path to the mission
and the initiatives that serve it; click the background or press Escape to clear.</p>
<div class="ml-map">
{svg}</div>
</body>
</html>
"""
_WRITERS = (".html", ".svg", ".png")


def render_svg(m: MissionMap) -> str:
    """Return a standalone static SVG of the map (no scripts, no external references)."""
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + svg_text(layout(m), script=False)


def svg_fragment(m: MissionMap) -> str:
    """Return the inline SVG with its interactivity script, for embedding in an HTML page."""
    return svg_text(layout(m), script=True)


def render_html(m: MissionMap) -> str:
    """Return a self-contained interactive HTML page of the map that makes no requests."""
    lay = layout(m)
    return _PAGE.format(title=escape(lay.title), svg=svg_text(lay, script=True))


def render_png(m: MissionMap, path: Path, dpi: int = 150) -> None:
    """Write a static PNG of the map to ``path`` with matplotlib (no browser needed)."""
    from missionline.report.map_png import draw_png  # matplotlib loads only when asked for

    draw_png(layout(m), Path(path), dpi)


def write_map(m: MissionMap, path: Path) -> Path:
    """Write the map to ``path`` in the format its suffix names (.html, .svg or .png)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in _WRITERS:
        raise MissionlineError(
            f"cannot write a mission map to {path.name!r}: use a file ending in "
            + ", ".join(_WRITERS)
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".png":
        render_png(m, path)
    else:
        text = render_html(m) if suffix == ".html" else render_svg(m)
        path.write_text(text, encoding="utf-8")
    return path
