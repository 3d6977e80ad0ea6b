"""Routing of each grouping, and the emits Storm rejects."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from streamparse import Bolt, Grouping, Spout, Stream, Topology

from squall.errors import TopologyError
from squall.runner.graph import build_graph
from squall.runner.grouping import Router, RoutingError, stable_hash


class Src(Spout):
    outputs = [Stream(["k", "v"]), Stream(["v"], name="side"), Stream(["v"], name="pin", direct=True)]


class Sink(Bolt):
    outputs = []


class Routed(Topology):
    src = Src.spec()
    a_shuffle = Sink.spec(inputs={src: Grouping.SHUFFLE}, par=3)
    b_fields = Sink.spec(inputs={src: Grouping.fields("k")}, par=4)
    c_all = Sink.spec(inputs={src: Grouping.ALL}, par=2)
    d_global = Sink.spec(inputs={src["side"]: Grouping.GLOBAL}, par=3)
    e_direct = Sink.spec(inputs={src["pin"]: Grouping.DIRECT}, par=2)
    f_none = Sink.spec(inputs={src: Grouping.NONE}, par=2)


def router(seed: int = 0) -> tuple[Router, dict]:
    graph = build_graph(Routed)
    return Router(graph, random.Random(seed)), {n: c.tasks for n, c in graph.components.items()}


def test_default_stream_fans_out_to_each_subscriber() -> None:
    r, tasks = router()
    out = r.route(tasks["src"][0], "src", "default", ["x", 1])
    assert len(out) == 1 + 1 + 2 + 1  # shuffle, fields, all (2 tasks), none
    assert set(tasks["c_all"]) <= set(out)


def test_shuffle_is_even_over_each_round() -> None:
    r, tasks = router(3)
    seen = Counter()
    for i in range(30):
        out = r.route(tasks["src"][0], "src", "default", ["x", i])
        seen.update(t for t in out if t in tasks["a_shuffle"])
    assert sorted(seen.values()) == [10, 10, 10]


def test_fields_is_a_stable_hash_of_the_selected_values() -> None:
    r, tasks = router()
    b = tasks["b_fields"]
    for key in ["a", "b", "device-17", "ü"]:
        outs = {t for i in range(5) for t in r.route(tasks["src"][0], "src", "default", [key, i]) if t in b}
        assert outs == {b[stable_hash([key]) % len(b)]}
    assert stable_hash(["device-1", 3]) == stable_hash(("device-1", 3))


def test_global_is_the_lowest_task() -> None:
    r, tasks = router()
    assert r.route(tasks["src"][0], "src", "side", [1]) == [min(tasks["d_global"])]


def test_direct_only_to_subscribed_tasks_of_direct_streams() -> None:
    r, tasks = router()
    target = tasks["e_direct"][1]
    assert r.route(tasks["src"][0], "src", "pin", [1], direct_task=target) == [target]
    assert r.route(tasks["src"][0], "src", "pin", [1], direct_task=tasks["a_shuffle"][0]) == []
    with pytest.raises(RoutingError, match="without naming a task"):
        r.route(tasks["src"][0], "src", "pin", [1])
    with pytest.raises(RoutingError, match="not a direct stream"):
        r.route(tasks["src"][0], "src", "side", [1], direct_task=target)


def test_undeclared_stream_and_wrong_arity_are_rejected() -> None:
    r, tasks = router()
    with pytest.raises(RoutingError, match="undeclared stream 'nope'"):
        r.route(tasks["src"][0], "src", "nope", [1])
    with pytest.raises(RoutingError, match="emitted 1 values on stream 'default'.*2 fields"):
        r.route(tasks["src"][0], "src", "default", [1])


def test_custom_groupings_are_unsupported_with_a_clear_error() -> None:
    class Custom(Topology):
        src = Src.spec()
        sink = Sink.spec(inputs={src: Grouping.custom_object("com.example.MyGrouping", [])})

    with pytest.raises(TopologyError, match="custom_object grouping is a Java class.*unsupported"):
        build_graph(Custom)


class Narrow(Topology):
    src = Src.spec()
    one_shuffle = Sink.spec(inputs={src: Grouping.SHUFFLE}, par=1)
    one_fields = Sink.spec(inputs={src: Grouping.fields("k")}, par=1)
    pair = Sink.spec(inputs={src["side"]: Grouping.ALL}, par=2)


def test_a_one_task_target_gets_every_tuple_and_draws_no_random_numbers() -> None:
    graph = build_graph(Narrow)
    rng = random.Random(7)
    r = Router(graph, rng)
    src = graph.components["src"].tasks[0]
    expected = sorted(graph.components["one_shuffle"].tasks + graph.components["one_fields"].tasks)
    state = rng.getstate()
    for i in range(50):
        assert sorted(r.route(src, "src", "default", [f"key{i}", i])) == expected
    assert rng.getstate() == state  # so a seeded run routes the same whatever the parallelism elsewhere


def test_each_route_is_a_new_list_the_caller_may_keep() -> None:
    graph = build_graph(Narrow)
    r = Router(graph, random.Random(0))
    src = graph.components["src"].tasks[0]
    first = r.route(src, "src", "side", [1])
    first.append(-1)
    assert r.route(src, "src", "side", [2]) == graph.components["pair"].tasks


def test_fixed_targets_only_where_no_grouping_chooses() -> None:
    graph = build_graph(Narrow)
    r = Router(graph, random.Random(0))
    src = graph.components["src"].tasks[0]
    assert r.fixed(src, "default") is None  # nothing routed yet
    r.route(src, "src", "default", ["k", 1])
    r.route(src, "src", "side", [1])
    one = sorted(graph.components["one_shuffle"].tasks + graph.components["one_fields"].tasks)
    assert r.fixed(src, "default") is not None
    arity, tasks = r.fixed(src, "default")  # type: ignore[misc]
    assert arity == 2 and sorted(tasks) == one
    assert r.fixed(src, "side") == (1, graph.components["pair"].tasks)  # all: every task, always
    tasks.append(-1)  # the router's own lists are not the ones handed out
    assert sorted(r.route(src, "src", "default", ["k", 2])) == one
    wide, all_tasks = router()
    wide.route(all_tasks["src"][0], "src", "default", ["x", 1])
    assert wide.fixed(all_tasks["src"][0], "default") is None  # shuffle and fields over several tasks
