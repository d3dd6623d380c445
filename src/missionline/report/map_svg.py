"""SVG drawing of a mission map layout, and the script that makes it interactive.

Every piece of plan text is escaped on the way out, and node ids travel only in attributes that
the script reads through the DOM, so a label such as ``<script>`` is shown, never run.
"""

from __future__ import annotations

from html import escape

from missionline.report.map_cards import EDGE, Box, TextLine, accent_path
from missionline.report.map_layout import Layout
from missionline.report.map_route import EdgePath

# Styles for the interactive states; presentation attributes carry the static look so the SVG
# also renders right where CSS is ignored.
_STYLE = """
.ml-node { cursor: pointer; }
.ml-node:focus { outline: none; }
.ml-node:focus .ml-card { stroke-width: 2.5; }
.ml-edge { transition: opacity .15s; }
svg.ml-active .ml-node:not(.ml-on) { opacity: .22; }
svg.ml-active .ml-edge:not(.ml-on) { opacity: .08; }
svg.ml-active .ml-edge.ml-on { stroke: #1f3a5f; stroke-width: 2.4; }
.ml-node.ml-sel .ml-card { stroke-width: 3; }
"""

# Written without "<" and "&" so that it is valid as raw text in both XML and HTML, with no
# CDATA section. It reads ids with getAttribute and writes the tooltip with textContent only.
SCRIPT = """
(function () {
  var tip = document.getElementById("ml-map-tip");
  if (!tip) {
    tip = document.createElement("div");
    tip.id = "ml-map-tip";
    tip.setAttribute("role", "tooltip");
    tip.style.cssText = "position:fixed;display:none;pointer-events:none;z-index:10;" +
      "max-width:320px;padding:8px 10px;border-radius:6px;background:#1b2733;color:#fff;" +
      "font:12px/1.4 sans-serif;white-space:pre-line;box-shadow:0 2px 8px rgba(0,0,0,.25)";
    document.body.appendChild(tip);
  }
  document.querySelectorAll("svg[data-mission-map]").forEach(function (svg) {
    if (svg.getAttribute("data-ready")) { return; }
    svg.setAttribute("data-ready", "1");
    var nodes = new Map(), up = new Map(), down = new Map(), current = null;
    var edges = Array.from(svg.querySelectorAll(".ml-edge"));
    function add(map, key, edge) {
      if (!map.has(key)) { map.set(key, []); }
      map.get(key).push(edge);
    }
    edges.forEach(function (edge) {
      add(down, edge.getAttribute("data-source"), edge);
      add(up, edge.getAttribute("data-target"), edge);
    });
    function walk(start, links, end, seen, lit) {
      var stack = [start];
      while (stack.length) {
        (links.get(stack.pop()) || []).forEach(function (edge) {
          lit.add(edge);
          var next = edge.getAttribute(end);
          if (!seen.has(next)) { seen.add(next); stack.push(next); }
        });
      }
    }
    function clear() {
      current = null;
      svg.classList.remove("ml-active");
      svg.querySelectorAll(".ml-on, .ml-sel").forEach(function (el) {
        el.classList.remove("ml-on", "ml-sel");
      });
    }
    function select(id) {
      if (current === id) { clear(); return; }
      clear();
      current = id;
      var seen = new Set([id]), lit = new Set();
      walk(id, up, "data-source", seen, lit);
      walk(id, down, "data-target", seen, lit);
      svg.classList.add("ml-active");
      seen.forEach(function (key) {
        var node = nodes.get(key);
        if (node) { node.classList.add("ml-on"); }
      });
      lit.forEach(function (edge) { edge.classList.add("ml-on"); });
      nodes.get(id).classList.add("ml-sel");
    }
    function show(node, event) {
      tip.textContent = node.getAttribute("data-tip");
      tip.style.display = "block";
      var x = Math.min(event.clientX + 14, window.innerWidth - tip.offsetWidth - 8);
      var y = Math.min(event.clientY + 14, window.innerHeight - tip.offsetHeight - 8);
      tip.style.left = Math.max(x, 4) + "px";
      tip.style.top = Math.max(y, 4) + "px";
    }
    svg.querySelectorAll(".ml-node").forEach(function (node) {
      var id = node.getAttribute("data-node");
      nodes.set(id, node);
      var title = node.querySelector("title");
      if (title) { title.remove(); }
      node.addEventListener("mousemove", function (event) { show(node, event); });
      node.addEventListener("mouseleave", function () { tip.style.display = "none"; });
      node.addEventListener("click", function (event) {
        event.stopPropagation();
        select(id);
      });
      node.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") {
          event.preventDefault();
          select(id);
        }
      });
    });
    svg.addEventListener("click", clear);
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape") { clear(); }
    });
  });
})();
"""


def _n(value: float) -> str:
    """A coordinate with at most one decimal, for compact output."""
    return f"{value:.1f}".removesuffix(".0")


def _a(value: str) -> str:
    """Escape a value for a double-quoted attribute, keeping line breaks.

    XML parsers turn a literal newline in an attribute into a space; a character reference
    survives in both XML and HTML.
    """
    return escape(value, quote=True).replace("\n", "&#10;")


def _path_data(commands: tuple[tuple[str, tuple[float, ...]], ...]) -> str:
    return " ".join(op + " ".join(_n(v) for v in values) for op, values in commands)


def _text(line: TextLine) -> str:
    attrs = [f'x="{_n(line.x)}"', f'y="{_n(line.y)}"', f'font-size="{_n(line.size)}"']
    attrs.append(f'fill="{_a(line.color)}"')
    if line.bold:
        attrs.append('font-weight="bold"')
    if line.italic:
        attrs.append('font-style="italic"')
    if line.anchor != "start":
        attrs.append(f'text-anchor="{line.anchor}"')
    if line.rotate:
        attrs.append(f'transform="rotate({_n(line.rotate)} {_n(line.x)} {_n(line.y)})"')
    return f"<text {' '.join(attrs)}>{escape(line.text, quote=False)}</text>"


def _rect(box: Box, css: str = "") -> str:
    stroke = f' stroke="{_a(box.stroke)}" stroke-width="1.2"' if box.stroke else ""
    stroke += ' stroke-dasharray="4 3"' if box.dashed else ""
    klass = f' class="{css}"' if css else ""
    return (
        f'<rect{klass} x="{_n(box.x)}" y="{_n(box.y)}" width="{_n(box.w)}" height="{_n(box.h)}" '
        f'rx="{_n(box.radius)}" fill="{_a(box.fill)}"{stroke}/>'
    )


def _box(box: Box) -> str:
    parts = [_rect(box, "ml-card" if box.node is not None else "")]
    if box.accent:
        parts.append(f'<path d="{_path_data(accent_path(box))}" fill="{_a(box.accent)}"/>')
    parts += [_text(line) for line in box.lines]
    if box.node is None:
        return "".join(parts)
    attrs = (
        f'class="ml-node" data-node="{_a(box.node)}" data-kind="{_a(box.kind)}" '
        f'data-status="{_a(box.status or "none")}" data-tip="{_a(box.tooltip)}" tabindex="0" '
        f'role="button" aria-label="{_a(box.tooltip)}"'
    )
    return f"<g {attrs}><title>{escape(box.tooltip, quote=False)}</title>{''.join(parts)}</g>"


def _edge(edge: EdgePath) -> str:
    return (
        f'<path class="ml-edge" data-source="{_a(edge.source)}" data-target="{_a(edge.target)}" '
        f'd="{_path_data(edge.commands)}" fill="none" stroke="{EDGE}" stroke-width="1.4" '
        'stroke-linecap="round"/>'
    )


def svg_text(lay: Layout, script: bool) -> str:
    """The SVG element for ``lay``; with ``script``, the interactivity script inside it."""
    w, h = _n(lay.width), _n(lay.height)
    body = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" '
        f'height="{h}" font-family="sans-serif" role="img" data-mission-map="1" '
        f'aria-label="{_a(lay.title)}" style="max-width:100%;height:auto">',
        f"<title>{escape(lay.title, quote=False)}</title>",
        f"<style>{_STYLE}</style>",
        f'<rect width="{w}" height="{h}" fill="#ffffff"/>',
        "<g>",
        *(_rect(box) for box in lay.lanes),
        "</g>",
        '<g class="ml-edges">',
        *(_edge(edge) for edge in lay.edges),
        "</g>",
        "<g>",
        *(_box(box) for box in lay.boxes),
        "</g>",
        "<g>",
        *(_text(line) for line in lay.texts),
        "</g>",
    ]
    if script:
        body.append(f"<script>{SCRIPT}</script>")
    body.append("</svg>")
    return "\n".join(body) + "\n"
