"""The mission map picture: SVG, HTML and PNG from one layout, with readable, escaped text."""

from __future__ import annotations

import itertools
import re
import struct
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import matplotlib
import pytest

from missionline.alignment.mission_map import (
    FunctionLane,
    MapNode,
    MissionMap,
    build_mission_map,
)
from missionline.errors import MissionlineError
from missionline.plan import load_plan
from missionline.report.map_cards import STATUS_STYLE, Box
from missionline.report.map_svg import SCRIPT
from missionline.report.map_text import text_width, wrap
from missionline.report.mission_map import (
    Layout,
    layout,
    render_html,
    render_png,
    render_svg,
    svg_fragment,
    write_map,
)
from missionline.workspace import packaged_example

SVG = "{http://www.w3.org/2000/svg}"
STATUSES = ["on_track", "at_risk", "off_track", "no_data", None]
XSS = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def plan_map() -> MissionMap:
    """The packaged demo plan's map, without data: 3 factors, 3 functions, 7 objectives."""
    return build_mission_map(load_plan(packaged_example("demo")))


@pytest.fixture(scope="module")
def demo_map(plan_map: MissionMap) -> MissionMap:
    """The demo plan's map with every status used, as if measured against data."""
    statuses = itertools.cycle(STATUSES)
    nodes = [
        replace(n, status=next(statuses)) if n.kind in ("success_factor", "objective") else n
        for n in plan_map.nodes
    ]
    return replace(plan_map, nodes=nodes)


def synthetic(lanes: int, objectives: int, initiatives: int, words: int = 3) -> MissionMap:
    """A map with ``objectives`` and ``initiatives`` in each of ``lanes`` functions."""
    nodes = [MapNode("mission", "mission", "Acme", "Be the partner engineers choose. " * words)]
    edges = []
    for s in range(4):
        label = "Success factor with a long name " * (1 + s % 2)
        nodes.append(MapNode(f"sf{s}", "success_factor", label, "m: target 1", None, "at_risk"))
        edges.append(("mission", f"sf{s}"))
    functions = []
    for f in range(lanes):
        functions.append(
            FunctionLane(
                f"f{f}", f"Function {f}", "purpose " * words, [f"Stage {k}" for k in range(f % 4)]
            )
        )
        for o in range(objectives):
            label = "Objective " + "word " * (o % 5)
            detail = "a_metric_name_without_any_spaces_at_all: target 1 · actual 2"
            nodes.append(MapNode(f"o{f}_{o}", "objective", label, detail, f"f{f}", STATUSES[o % 5]))
            edges += [(f"sf{(f + o) % 4}", f"o{f}_{o}"), (f"sf{(f * o) % 4}", f"o{f}_{o}")]
        for i in range(initiatives):
            nodes.append(
                MapNode(f"i{f}_{i}", "initiative", "Initiative " * (1 + i % 3), "", f"f{f}")
            )
            edges.append((f"o{f}_{i % max(objectives, 1)}", f"i{f}_{i}"))
            edges.append((f"o{(f + 1) % lanes}_{(i + 1) % max(objectives, 1)}", f"i{f}_{i}"))
        # long edges that skip a band: between success factors, down a lane's gutters
        edges += [("mission", f"o{f}_{objectives - 1}"), (f"sf{f % 4}", f"i{f}_{initiatives - 1}")]
    known = {n.id for n in nodes}
    edges = list(dict.fromkeys((a, b) for a, b in edges if a in known and b in known))
    return MissionMap("Synthetic: mission map", nodes, edges, functions)


def svg_root(text: str) -> ET.Element:
    """Parse SVG text (the XML declaration included) as XML."""
    return ET.fromstring(text.encode("utf-8"))


def node_groups(root: ET.Element) -> dict[str, ET.Element]:
    """The node elements of a parsed SVG by node id."""
    return {g.get("data-node", ""): g for g in root.iter(f"{SVG}g") if g.get("data-node")}


def edge_paths(root: ET.Element) -> list[ET.Element]:
    """The edge elements of a parsed SVG."""
    return [p for p in root.iter(f"{SVG}path") if p.get("class") == "ml-edge"]


def solid_boxes(lay: Layout) -> list[Box]:
    """Boxes that must not overlap: nodes, lane headers and legend swatches."""
    return [b for b in lay.boxes if b.role in ("node", "header", "legend")]


def overlaps(a: Box, b: Box) -> bool:
    """Whether two rectangles share any area."""
    return a.x < b.x + b.w and b.x < a.x + a.w and a.y < b.y + b.h and b.y < a.y + a.h


def sample(commands: tuple[tuple[str, tuple[float, ...]], ...]) -> list[tuple[float, float]]:
    """Points along a path's lines and cubic curves."""
    points: list[tuple[float, float]] = []
    x, y = 0.0, 0.0
    for op, v in commands:
        if op == "M":
            x, y = v
        elif op == "L":
            points += [(x + (v[0] - x) * t / 20, y + (v[1] - y) * t / 20) for t in range(21)]
            x, y = v
        elif op == "C":
            for step in range(21):
                t = step / 20
                c = [(1 - t) ** 3, 3 * (1 - t) ** 2 * t, 3 * (1 - t) * t**2, t**3]
                xs, ys = (x, v[0], v[2], v[4]), (y, v[1], v[3], v[5])
                points.append((sum(map(float.__mul__, c, xs)), sum(map(float.__mul__, c, ys))))
            x, y = v[4], v[5]
    return points


def test_svg_is_well_formed_with_one_element_per_node_and_edge(demo_map: MissionMap) -> None:
    """The SVG parses as XML, has one element per node id and one path per edge."""
    root = svg_root(render_svg(demo_map))
    assert root.tag == f"{SVG}svg"
    assert set(node_groups(root)) == {n.id for n in demo_map.nodes}
    assert len(node_groups(root)) == len(demo_map.nodes)
    paths = edge_paths(root)
    assert len(paths) == len(demo_map.edges)
    assert [(p.get("data-source"), p.get("data-target")) for p in paths] == demo_map.edges


def test_hover_text_carries_the_detail(demo_map: MissionMap) -> None:
    """Each node carries its label, metric line and status for the tooltip, one per line."""
    groups = node_groups(svg_root(svg_fragment(demo_map)))
    for node in demo_map.nodes:
        tip = groups[node.id].get("data-tip", "")
        assert tip.split("\n")[0] == node.label
        for part in node.detail.split(" · "):
            assert part in tip.split("\n")
        if node.status:
            assert tip.endswith(STATUS_STYLE[node.status][2])


def test_demo_plan_map_has_the_expected_shape(plan_map: MissionMap) -> None:
    """The demo plan draws 3 lanes with their names, 12 initiatives and the mission on top."""
    lay = layout(plan_map)
    headers = [b for b in lay.boxes if b.role == "header"]
    assert [h.lines[0].text for h in headers] == ["Marketing", "Sales", "Customer success"]
    kinds = [b.kind for b in lay.nodes]
    assert kinds.count("initiative") == 12 and kinds.count("objective") == 7
    mission = next(b for b in lay.nodes if b.kind == "mission")
    assert all(mission.y + mission.h < b.y for b in lay.nodes if b.kind != "mission")
    for box in lay.nodes:  # initiatives sit in their function's lane
        node = next(n for n in plan_map.nodes if n.id == box.node)
        if node.kind == "initiative":
            lane = lay.lanes[[ln.id for ln in plan_map.lanes].index(node.function or "")]
            assert lane.x <= box.x and box.x + box.w <= lane.x + lane.w


def test_boxes_are_coloured_by_status(demo_map: MissionMap) -> None:
    """Each status has its fill and stroke; no data and no status are both grey."""
    groups = node_groups(svg_root(render_svg(demo_map)))
    seen = set()
    for node in demo_map.nodes:
        if node.kind not in ("success_factor", "objective"):
            continue
        fill, stroke, _ = STATUS_STYLE[node.status or "no_data"]
        rect = groups[node.id].find(f"{SVG}rect")
        assert rect is not None
        assert (rect.get("fill"), rect.get("stroke")) == (fill, stroke)
        assert groups[node.id].get("data-status") == (node.status or "none")
        seen.add(node.status)
    assert seen == set(STATUSES)
    assert len({style[0] for style in STATUS_STYLE.values()}) == 4
    legend = [b for b in layout(demo_map).boxes if b.role == "legend"]
    assert {b.fill for b in legend} >= {style[0] for style in STATUS_STYLE.values()}


def test_user_text_is_escaped_everywhere() -> None:
    """A label or name holding markup shows as text and adds no element to SVG or HTML."""
    nodes = [
        MapNode("mission", "mission", XSS, 'statement "quoted" & <b>bold</b>'),
        MapNode('sf"<x>', "success_factor", XSS, XSS, status="on_track"),
        MapNode("o1", "objective", "ok \x00\x1b control", XSS, "f<1>", "off_track"),
        MapNode("i1", "initiative", XSS, "", "f<1>"),
    ]
    edges = [("mission", 'sf"<x>'), ('sf"<x>', "o1"), ("o1", "i1")]
    m = MissionMap(XSS, nodes, edges, [FunctionLane("f<1>", XSS, XSS, [XSS])])
    svg = render_svg(m)
    root = svg_root(svg)
    assert not list(root.iter(f"{SVG}script")) and "<script>" not in svg
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in svg
    assert 'sf"<x>' in node_groups(root)
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert XSS in texts and "ok control" in texts
    for text in (svg_fragment(m), render_html(m)):
        assert text.count("<script>") == 1 and "alert(1)</script>" not in text
    scripts = list(svg_root(svg_fragment(m)).iter(f"{SVG}script"))
    assert len(scripts) == 1 and "alert" not in (scripts[0].text or "")


def test_script_is_raw_text_safe_in_xml_and_html() -> None:
    """The inline script has no characters that would need a CDATA section."""
    assert "<" not in SCRIPT and "&" not in SCRIPT and "]]>" not in SCRIPT


def test_html_page_is_self_contained(demo_map: MissionMap) -> None:
    """The page inlines the SVG and script and requests nothing from the network."""
    page = render_html(demo_map)
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.I)
    assert "src=" not in page and "@import" not in page and "url(" not in page
    assert page.count("<svg") == 1 and 'data-mission-map="1"' in page
    assert "ml-node" in page and "addEventListener" in page
    fragment = svg_fragment(demo_map)
    assert fragment.startswith("<svg") and fragment in page
    svg_root(fragment)  # the fragment is well-formed XML too


def test_png_has_the_signature_and_a_sensible_size(demo_map: MissionMap, tmp_path: Path) -> None:
    """render_png writes a PNG whose pixel size follows the layout and the dpi."""
    path = tmp_path / "map.png"
    render_png(demo_map, path, dpi=60)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    lay = layout(demo_map)
    assert abs(width - lay.width * 60 / 96) <= 2 and abs(height - lay.height * 60 / 96) <= 2
    assert 600 < width < 3000 and 400 < height < 3000 and len(data) > 20_000


def test_png_draws_dollar_signs_as_text(tmp_path: Path) -> None:
    """Text such as "$1M to $2M" or a lone "$" is drawn literally, not parsed as mathtext."""
    nodes = [
        MapNode("m", "mission", "Co $", "Grow from $1M to $2M"),
        MapNode("o", "objective", "Spend $_{x}^$ wisely", "spend: target $ 5", "f", "at_risk"),
    ]
    m = MissionMap("$5 map", nodes, [("m", "o")], [FunctionLane("f", "F$", "$$", ["$"])])
    render_png(m, tmp_path / "map.png", dpi=30)
    assert (tmp_path / "map.png").read_bytes()[:4] == b"\x89PNG"


def test_png_leaves_matplotlib_global_state_alone(plan_map: MissionMap, tmp_path: Path) -> None:
    """Rendering switches no backend and changes no rcParams for other callers."""
    backend = matplotlib.get_backend()
    params = dict(matplotlib.rcParams)
    render_png(plan_map, tmp_path / "map.png", dpi=30)
    assert matplotlib.get_backend() == backend
    assert dict(matplotlib.rcParams) == params


@pytest.mark.parametrize(
    ("lanes", "objectives", "initiatives"),
    [(1, 8, 5), (1, 1, 0), (3, 3, 12), (6, 8, 12), (9, 2, 3)],
)
def test_synthetic_maps_have_no_overlaps(lanes: int, objectives: int, initiatives: int) -> None:
    """Crowded or sparse, no two boxes overlap and every box is on the page."""
    check_layout(layout(synthetic(lanes, objectives, initiatives)))


def test_demo_map_has_no_overlaps(plan_map: MissionMap, demo_map: MissionMap) -> None:
    """The demo plan's boxes do not overlap, with or without statuses."""
    check_layout(layout(plan_map))
    check_layout(layout(demo_map))


def check_layout(lay: Layout) -> None:
    """No overlapping boxes, all inside the page, text inside its box, edges clear of boxes."""
    boxes = solid_boxes(lay)
    for a, b in itertools.combinations(boxes, 2):
        assert not overlaps(a, b), (a.role, a.node, a.kind, b.role, b.node, b.kind)
    for box in [*lay.lanes, *lay.boxes]:
        assert box.x >= 0 and box.x + box.w <= lay.width and box.y >= 0
        assert box.y + box.h <= lay.height
        for line in box.lines:
            width = text_width(line.text, line.size, line.bold)
            left = line.x - {"start": 0, "middle": width / 2, "end": width}[line.anchor]
            assert box.x + 4 <= left and left + width <= box.x + box.w - 4, line.text
            assert box.y < line.y - line.size * 0.7 and line.y + line.size * 0.25 < box.y + box.h
    nodes = {b.node: b for b in lay.nodes}
    for edge in lay.edges:
        ends = {edge.source, edge.target}
        for x, y in sample(edge.commands):
            for node, box in nodes.items():
                if node not in ends:
                    inside = box.x + 1 < x < box.x + box.w - 1 and box.y + 1 < y < box.y + box.h - 1
                    assert not inside, (edge.source, edge.target, node)


def test_long_text_wraps_and_boxes_grow() -> None:
    """A long label wraps within the box, and its box is taller than a one-line one."""
    long = "An objective with a very long label that cannot fit on one line of the box"
    m = MissionMap(
        "t",
        [
            MapNode("o1", "objective", long, "metric: target 1", "f"),
            MapNode("o2", "objective", "Short", "metric: target 1", "f"),
        ],
        [],
        [FunctionLane("f", "F", "", [])],
    )
    boxes = {b.node: b for b in layout(m).nodes}
    assert len(wrap(long, boxes["o1"].w - 26, 13, bold=True)) > 1
    words = " ".join(line.text for line in boxes["o1"].lines if line.bold)
    assert words.split() == long.split()
    assert boxes["o1"].h == boxes["o2"].h  # boxes in a row share its height


def test_odd_maps_still_draw() -> None:
    """Empty maps, duplicate ids, unknown edge ends and nodes without a lane do not fail."""
    assert svg_root(render_svg(MissionMap("Empty", [], [])))
    nodes = [
        MapNode("m", "mission", "Co", ""),
        MapNode("x", "objective", "Lost", "", "nobody"),
        MapNode("x", "objective", "Duplicate", "", "nobody"),
        MapNode("i", "initiative", "Orphan", "", None),
    ]
    m = MissionMap("Odd", nodes, [("m", "x"), ("x", "i"), ("ghost", "x"), ("i", "m")])
    root = svg_root(render_svg(m))
    assert set(node_groups(root)) == {"m", "x", "i"}
    assert len(edge_paths(root)) == 3  # the edge from an unknown node is left out
    assert any(b.role == "header" and b.lines[0].text == "Other" for b in layout(m).boxes)


def test_boxes_linked_to_nothing_above_are_marked() -> None:
    """An initiative or objective that supports nothing is dashed and says so; others are not."""
    nodes = [
        MapNode("m", "mission", "Co", "Grow."),
        MapNode("o", "objective", "Linked", "", "f", "on_track"),
        MapNode("lost", "objective", "Serves nothing", "", "f", "at_risk"),
        MapNode("i", "initiative", "Linked too", "", "f"),
        MapNode("spend", "initiative", "Spend with no goal", "", "f"),
    ]
    m = MissionMap("t", nodes, [("m", "o"), ("o", "i")], [FunctionLane("f", "F", "", [])])
    lay = layout(m)
    boxes = {b.node: b for b in lay.nodes}
    assert {k for k, b in boxes.items() if b.dashed} == {"lost", "spend"}
    assert boxes["spend"].lines[-1].text == "Not linked to an objective"
    assert boxes["lost"].tooltip.endswith("Not linked to a success factor")
    assert any(t.text == "Not linked" for t in lay.texts)
    assert 'stroke-dasharray="4 3"' in render_svg(m)
    full = replace(m, nodes=nodes[:2] + nodes[3:4])
    assert not any(t.text == "Not linked" for t in layout(full).texts)


def test_layout_is_deterministic(plan_map: MissionMap) -> None:
    """The same map gives the same layout, so every renderer draws the same picture."""
    assert layout(plan_map) == layout(plan_map)


def test_write_map_picks_the_format_by_suffix(plan_map: MissionMap, tmp_path: Path) -> None:
    """write_map writes .html, .svg and .png, and rejects other suffixes with the list."""
    for name in ("map.html", "sub/map.SVG", "map.png"):
        path = write_map(plan_map, tmp_path / name)
        assert path.stat().st_size > 1000
    assert (tmp_path / "map.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    with pytest.raises(MissionlineError, match=r"\.html, \.svg, \.png"):
        write_map(plan_map, tmp_path / "map.pdf")
    assert not (tmp_path / "map.pdf").exists()
