"""The topology graph: built from Storm's thrift StormTopology and from the runner's Graph, layered left to
right, drawn as SVG."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from streamparse import Bolt, Grouping, Spout, Topology

from squall.runner.graph import build_graph
from squall.web.graph import (
    NODE_W,
    Edge,
    Node,
    TopologyGraph,
    from_runner_graph,
    from_storm_topology,
    layers,
    positions,
    render_svg,
)


class Numbers(Spout):
    outputs = ["n"]


class Echo(Bolt):
    outputs = ["n"]


class Sink(Bolt):
    outputs: list[str] = []


def test_layers_place_each_component_right_of_its_deepest_input() -> None:
    graph = TopologyGraph(
        (Node("src", "spout", 1), Node("a", "bolt", 2), Node("b", "bolt", 1), Node("sink", "bolt", 1)),
        (
            Edge("src", "a", "default", "shuffle"),
            Edge("a", "b", "default", "shuffle"),
            Edge("src", "sink", "default", "shuffle"),
            Edge("b", "sink", "default", "global"),
        ),
    )
    assert layers(graph) == [["src"], ["a"], ["b"], ["sink"]]
    pos = positions(graph)
    assert pos["src"][0] < pos["a"][0] < pos["b"][0] < pos["sink"][0]


def test_a_cycle_does_not_recurse_forever() -> None:
    graph = TopologyGraph(
        (Node("s", "spout", 1), Node("a", "bolt", 1), Node("b", "bolt", 1)),
        (
            Edge("s", "a", "default", "shuffle"),
            Edge("a", "b", "x", "shuffle"),
            Edge("b", "a", "y", "shuffle"),
        ),
    )
    assert sorted(sum(layers(graph), [])) == ["a", "b", "s"]
    svg = ET.fromstring(render_svg(graph))
    assert len(svg.findall(".//{http://www.w3.org/2000/svg}path")) == 4  # 3 edges and the arrow head


def test_streams_between_two_components_share_an_arrow() -> None:
    graph = TopologyGraph(
        (Node("route", "bolt", 1), Node("dlq", "bolt", 1)),
        (Edge("route", "dlq", "invalid", "shuffle"), Edge("route", "dlq", "late", "shuffle")),
    )
    svg = ET.fromstring(render_svg(graph))
    ns = "{http://www.w3.org/2000/svg}"
    [edge] = [g for g in svg.iter(f"{ns}g") if g.get("class") == "edge"]
    assert "".join(edge.find(f"{ns}text").itertext()) == "invalid: shuffle +1"
    assert "".join(edge.find(f"{ns}title").itertext()) == "route → dlq: invalid: shuffle; late: shuffle"


def test_svg_has_a_box_per_component_and_a_labelled_arrow_per_stream() -> None:
    graph = TopologyGraph(
        (Node("events", "spout", 2), Node("parse <1>", "bolt", 4)),
        (Edge("events", "parse <1>", "default", "fields(tenant, device_id)"),),
    )
    svg = ET.fromstring(render_svg(graph))  # well-formed: names are escaped
    ns = "{http://www.w3.org/2000/svg}"
    nodes = [g for g in svg.iter(f"{ns}g") if "node" in g.get("class", "")]
    assert [(g.get("data-component"), g.get("class")) for g in nodes] == [
        ("events", "node spout"),
        ("parse <1>", "node bolt"),
    ]
    texts = ["".join(t.itertext()) for t in svg.iter(f"{ns}text")]
    assert "fields(tenant, device…" in texts and "bolt × 4" in texts and "spout × 2" in texts
    titles = ["".join(t.itertext()) for t in svg.iter(f"{ns}title")]
    assert titles == ["events → parse <1>: fields(tenant, device_id)"]  # the whole label as a tooltip
    assert int(svg.get("width")) >= 2 * NODE_W


class _Spec:
    def __init__(self, inputs: dict, par: int) -> None:
        self.common = type("Common", (), {"inputs": inputs, "parallelism_hint": par})()


def test_from_storm_topology_reads_groupings_and_leaves_out_system_components() -> None:
    from streamparse.thrift import GlobalStreamId, NullStruct, StormTopology
    from streamparse.thrift import Grouping as ThriftGrouping

    topology = StormTopology(
        spouts={"numbers": _Spec({}, 1)},
        bolts={
            "echo": _Spec({GlobalStreamId("numbers", "default"): ThriftGrouping(shuffle=NullStruct())}, 2),
            "sink": _Spec({GlobalStreamId("echo", "default"): ThriftGrouping(fields=["n"])}, 3),
            "__acker": _Spec({GlobalStreamId("numbers", "__ack_init"): ThriftGrouping(fields=["id"])}, 1),
        },
        state_spouts={},
    )
    graph = from_storm_topology(topology)
    assert graph.nodes == (Node("numbers", "spout", 1), Node("echo", "bolt", 2), Node("sink", "bolt", 3))
    assert graph.edges == (
        Edge("echo", "sink", "default", "fields(n)"),
        Edge("numbers", "echo", "default", "shuffle"),
    )


def test_from_runner_graph() -> None:
    class Passthrough(Topology):
        numbers = Numbers.spec(par=1)
        echo = Echo.spec(inputs=[numbers], par=2)
        sink = Sink.spec(inputs={echo: Grouping.fields("n")}, par=1)

    graph = from_runner_graph(build_graph(Passthrough, {}, name="passthrough"))
    assert {(n.id, n.kind, n.parallelism) for n in graph.nodes} == {
        ("numbers", "spout", 1),
        ("echo", "bolt", 2),
        ("sink", "bolt", 1),
    }
    assert {(e.source, e.target, e.grouping) for e in graph.edges} == {
        ("numbers", "echo", "shuffle"),
        ("echo", "sink", "fields(n)"),
    }
