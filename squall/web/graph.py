"""A topology's graph for the dashboard: components and streams with their groupings, a layered layout, and
the SVG drawing of it. Pure: built from Nimbus's StormTopology (thrift) or from the local runner's Graph."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Any

NODE_W, NODE_H = 128, 44
GAP_X, GAP_Y = 104, 30
MARGIN = 16
LABEL_CHARS = 22  # longer edge labels are cut (the full text is the edge's tooltip)


@dataclass(frozen=True)
class Node:
    id: str
    kind: str  # "spout" | "bolt"
    parallelism: int


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    stream: str
    grouping: str  # "shuffle", "fields(tenant, device_id)", ...


@dataclass(frozen=True)
class TopologyGraph:
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]


def _thrift_grouping(grouping: Any) -> str:
    """The name of a thrift Grouping union (the one field that is set)."""
    if grouping.fields is not None:
        return f"fields({', '.join(grouping.fields)})" if grouping.fields else "global"
    for name in ("shuffle", "local_or_shuffle", "all", "none", "direct"):
        if getattr(grouping, name, None) is not None:
            return name
    return "custom"


def from_storm_topology(topology: Any, include_system: bool = False) -> TopologyGraph:
    """From Nimbus's getUserTopology (a StormTopology): user components only unless `include_system`."""
    nodes: list[Node] = []
    edges: list[Edge] = []
    for kind, specs in (("spout", topology.spouts or {}), ("bolt", topology.bolts or {})):
        for name, spec in sorted(specs.items()):
            if name.startswith("__") and not include_system:
                continue
            nodes.append(Node(name, kind, int(spec.common.parallelism_hint or 1)))
            for gsid, grouping in (spec.common.inputs or {}).items():
                if gsid.componentId.startswith("__") and not include_system:
                    continue
                edges.append(Edge(gsid.componentId, name, gsid.streamId, _thrift_grouping(grouping)))
    return TopologyGraph(tuple(nodes), tuple(sorted(edges, key=lambda e: (e.source, e.target, e.stream))))


def from_runner_graph(graph: Any) -> TopologyGraph:
    """From squall.runner.graph.Graph (a local run)."""
    nodes = [Node(c.name, c.kind, c.par) for _, c in sorted(graph.components.items())]
    edges = []
    for name, comp in sorted(graph.components.items()):
        for inp in comp.inputs:
            g = inp.grouping
            label = f"fields({', '.join(g.fields)})" if g.kind == "fields" else g.kind
            edges.append(Edge(inp.component, name, inp.stream, label))
    return TopologyGraph(tuple(nodes), tuple(sorted(edges, key=lambda e: (e.source, e.target, e.stream))))


def layers(graph: TopologyGraph) -> list[list[str]]:
    """Longest-path layering: spouts (and sources) in layer 0, each component one right of its deepest input.
    Cycles (a bolt feeding back) are cut where a visit meets a component still being placed."""
    inputs: dict[str, list[str]] = {n.id: [] for n in graph.nodes}
    for e in graph.edges:
        if e.target in inputs and e.source in inputs and e.source != e.target:
            inputs[e.target].append(e.source)
    depth: dict[str, int] = {}
    visiting: set[str] = set()

    def place(node: str) -> int:
        if node in depth:
            return depth[node]
        visiting.add(node)
        d = 0
        for src in inputs[node]:
            if src not in visiting:
                d = max(d, place(src) + 1)
        visiting.discard(node)
        depth[node] = d
        return d

    for n in graph.nodes:
        place(n.id)
    out: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for n in graph.nodes:
        out[depth[n.id]].append(n.id)
    return out


def positions(graph: TopologyGraph) -> dict[str, tuple[int, int]]:
    """Top-left corner of every node: layers left to right, each layer centred vertically."""
    cols = layers(graph)
    tallest = max((len(c) for c in cols), default=0)
    out: dict[str, tuple[int, int]] = {}
    for i, col in enumerate(cols):
        offset = (tallest - len(col)) * (NODE_H + GAP_Y) // 2
        for j, node in enumerate(col):
            out[node] = (MARGIN + i * (NODE_W + GAP_X), MARGIN + offset + j * (NODE_H + GAP_Y))
    return out


def render_svg(graph: TopologyGraph) -> str:
    """The graph as an inline <svg>: boxes per component (spouts and bolts styled apart) and an arrow from
    each component to each it feeds, labelled with the streams' ids (but "default") and groupings."""
    pos = positions(graph)
    cols = len(layers(graph))
    rows = max((len(c) for c in layers(graph)), default=0)
    width = 2 * MARGIN + max(cols, 1) * NODE_W + max(cols - 1, 0) * GAP_X
    height = 2 * MARGIN + max(rows, 1) * NODE_H + max(rows - 1, 0) * GAP_Y
    parts = [
        f'<svg class="topology-graph" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="topology graph">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#5b6b7f"/></marker></defs>',
    ]
    # streams between the same two components share one arrow, labelled with each stream and grouping
    labels: dict[tuple[str, str], list[str]] = {}
    for e in graph.edges:
        if e.source in pos and e.target in pos:
            text = e.grouping if e.stream == "default" else f"{e.stream}: {e.grouping}"
            labels.setdefault((e.source, e.target), []).append(text)
    for (source, target), texts in labels.items():
        full = "; ".join(texts)
        short = texts[0] if len(texts) == 1 else f"{texts[0]} +{len(texts) - 1}"
        if len(short) > LABEL_CHARS:
            short = short[: LABEL_CHARS - 1] + "…"
        e = Edge(source, target, "", short)
        sx, sy = pos[e.source]
        tx, ty = pos[e.target]
        x1, y1 = sx + NODE_W, sy + NODE_H // 2
        x2, y2 = tx, ty + NODE_H // 2
        if e.source == e.target or tx <= sx:  # a loop or a back edge: arc over the boxes
            x1, y1, x2, y2 = sx + NODE_W // 2, sy, tx + NODE_W // 2, ty
            top = min(sy, ty) - GAP_Y
            d = f"M {x1} {y1} C {x1} {top} {x2} {top} {x2} {y2}"
            lx, ly = (x1 + x2) // 2, top + 4
        else:
            mid = (x1 + x2) // 2
            d = f"M {x1} {y1} C {mid} {y1} {mid} {y2} {x2} {y2}"
            lx, ly = mid, (y1 + y2) // 2 - 4
        label = escape(e.grouping)
        parts.append(
            f'<g class="edge" data-source="{escape(e.source)}" data-target="{escape(e.target)}">'
            f"<title>{escape(source)} → {escape(target)}: {escape(full)}</title>"
            f'<path d="{d}" fill="none" stroke="#5b6b7f" stroke-width="1.5" marker-end="url(#arrow)"/>'
            f'<text x="{lx}" y="{ly}" text-anchor="middle" class="edge-label">{label}</text></g>'
        )
    for n in graph.nodes:
        x, y = pos[n.id]
        parts.append(
            f'<g class="node {n.kind}" data-component="{escape(n.id)}">'
            f'<rect x="{x}" y="{y}" width="{NODE_W}" height="{NODE_H}" rx="{12 if n.kind == "spout" else 3}"/>'
            f'<text x="{x + NODE_W // 2}" y="{y + 19}" text-anchor="middle" class="node-name">{escape(n.id)}</text>'
            f'<text x="{x + NODE_W // 2}" y="{y + 35}" text-anchor="middle" class="node-meta">'
            f"{n.kind} × {n.parallelism}</text></g>"
        )
    parts.append("</svg>")
    return "".join(parts)
