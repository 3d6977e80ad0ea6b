"""Topology -> graph: task ids, context, parallelism, and no mutation of the shared specs."""

from __future__ import annotations

import copy

from streamparse import Bolt, Grouping, ShellBolt, Spout, Stream, Topology

from squall.runner.graph import build_graph, topology_parallelism


class Src(Spout):
    outputs = [Stream(["k"]), Stream(["v"], name="side")]


class Mid(Bolt):
    outputs = ["k", "n"]


class Wired(Topology):
    config = {"topology.max.spout.pending": 7}
    src = Src.spec(par=2)
    mid = Mid.spec(inputs={src: Grouping.fields("k")}, par=3, config={"topology.tick.tuple.freq.secs": 5})
    js = ShellBolt.spec(command="node", script="x.js", inputs=[mid], outputs=["k"])


def test_task_ids_follow_sorted_component_ids() -> None:
    g = build_graph(Wired)
    assert {n: c.tasks for n, c in g.components.items()} == {"js": [1], "mid": [2, 3, 4], "src": [5, 6]}


def test_parallelism_overrides_do_not_touch_the_specs() -> None:
    before = copy.deepcopy([(s.name, s.par, s.common.parallelism_hint) for s in Wired.specs])
    g = build_graph(Wired, {"mid": 1, "js": 4})
    assert [c.par for c in (g.components["mid"], g.components["js"])] == [1, 4]
    assert [(s.name, s.par, s.common.parallelism_hint) for s in Wired.specs] == before
    assert topology_parallelism(Wired) == {"src": 2, "mid": 3, "js": 1}


def test_python_components_and_shell_components() -> None:
    g = build_graph(Wired)
    assert g.components["mid"].is_python and g.components["mid"].class_path.endswith("Mid")
    assert not g.components["js"].is_python and g.components["js"].command == "node"
    assert g.components["mid"].conf == {"topology.tick.tuple.freq.secs": 5}


def test_context_is_what_storm_sends() -> None:
    g = build_graph(Wired)
    ctx = g.context(3)
    assert ctx["taskid"] == 3 and ctx["componentid"] == "mid"
    assert ctx["task->component"]["5"] == "src"
    assert ctx["stream->outputfields"] == {"default": ["k", "n"]}
    assert ctx["source->stream->grouping"] == {"src": {"default": {"type": "FIELDS", "fields": ["k"]}}}
    assert ctx["source->stream->fields"] == {"src": {"default": ["k"]}}
    assert ctx["stream->target->grouping"] == {"default": {"js": {"type": "SHUFFLE"}}}
