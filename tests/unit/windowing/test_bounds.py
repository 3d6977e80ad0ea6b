"""The window engine's memory bounds (`pipeline.windows.max_keys`, `max_closed_windows`): they hold whatever the
number of keys, an evicted key's held tuples are released, its windows reopen like after an idle close, and with
small bounds no event vanishes: each is in its windows' last emitted rows, or was called late."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from squall.clock import ManualClock
from squall.windowing.definitions import WindowSettings, sliding, tumbling
from squall.windowing.manager import WindowManager

T0 = 1_767_225_600_000


def engine(max_keys: int, max_closed: int, *definitions: Any) -> tuple[WindowManager, ManualClock]:
    clock = ManualClock()
    defs = definitions or (tumbling(10),)
    limits = WindowSettings(tuple(defs), 5_000, 5.0, 0.01, max_keys=max_keys, max_closed_windows=max_closed)
    return WindowManager(limits, clock, retain_closed_s=180.0), clock


def test_200k_distinct_devices_keep_at_most_max_keys_and_max_closed_windows() -> None:
    wm, _ = engine(1_000, 3_000)
    acked = acked_sum = 0
    for i in range(200_000):
        out = wm.add((f"tenant-{i}", f"dev-{i}"), f"e{i}", T0 + i, {"t": 1.0}, i)
        acked += len(out.released)
        acked_sum += sum(out.released)
        if i % 20_000 == 0:
            stats = wm.stats()
            assert stats["keys"] <= 1_000 and stats["resting_keys"] <= 1_000, stats
            assert stats["closed_windows"] <= 3_000 and stats["pending_tuples"] <= 1_000, stats
    stats = wm.stats()
    assert stats["keys"] == 1_000 and stats["resting_keys"] <= 1_000 and stats["closed_windows"] <= 3_000
    assert stats["evicted_keys"] == 199_000 and stats["forgotten_keys"] >= 196_000
    out = wm.flush()
    acked += len(out.released)
    acked_sum += sum(out.released)
    assert wm.pending_tokens() == 0
    assert (acked, acked_sum) == (200_000, sum(range(200_000)))  # every tuple acked, once


def test_eviction_closes_provisionally_releases_held_tuples_and_a_later_event_amends_the_row() -> None:
    wm, _ = engine(1, 100)
    a, b = ("acme", "a"), ("acme", "b")
    assert wm.add(a, "a1", T0 + 1_000, {"t": 1.0}, "t1").released == []  # held by its open window
    out = wm.add(b, "b1", T0 + 1_000, {"t": 5.0}, "t2")  # a is evicted, as if it went idle
    assert [(w.key, w.results["t"].count) for w in out.closed] == [(a, 1)]
    assert out.released == ["t1"]
    assert wm.stats()["evicted_keys"] == 1 and wm.stats()["resting_keys"] == 1
    out = wm.add(a, "a2", T0 + 2_000, {"t": 3.0}, "t3")  # on time: a's window reopens; b is evicted
    assert [(w.key, w.results["t"].count) for w in out.closed] == [(b, 1)]
    assert out.released == ["t2"]
    closed = wm.flush().closed
    assert [(w.key, w.results["t"].count, w.results["t"].sum) for w in closed] == [(a, 2, 4.0)]  # amended row
    assert wm.pending_tokens() == 0


def test_a_forgotten_key_leaves_a_fence_its_events_for_emitted_windows_are_late_not_a_partial_row() -> None:
    wm, _ = engine(1, 1)
    a, b, c = ("acme", "a"), ("acme", "b"), ("acme", "c")
    wm.add(a, "a1", T0 + 1_000, {"t": 1.0}, "t1")
    wm.add(b, "b1", T0 + 1_000, {"t": 1.0}, "t2")  # a rests with its closed window
    wm.add(c, "c1", T0 + 1_000, {"t": 1.0}, "t3")  # b's close pushes a's window out: a is forgotten
    assert wm.stats()["forgotten_keys"] >= 1 and wm.stats()["forgotten_windows"] >= 1
    assert wm.watermark(a) == T0 + 10_000  # its fence: the end of the window it emitted
    out = wm.add(a, "a2", T0 + 2_000, {"t": 1.0}, "t4")  # late; c is evicted
    assert out.late and out.released == ["t3", "t4"] and [w.key for w in out.closed] == [c]
    assert not wm.add(a, "a3", T0 + 12_000, {"t": 1.0}, "t5").late  # a later window is on time


def test_the_engine_releases_every_tuple_and_reports_its_counts_in_stats() -> None:
    wm, clock = engine(2, 4, tumbling(1))
    released = []
    for i in range(10):
        wm.hold(f"b{i}")
        for k in range(3):
            released += wm.add(("t", f"d{(i + k) % 5}"), f"e{i}", T0 + i * 300, {"x": 1.0}, f"b{i}").released
        if wm.unhold(f"b{i}"):
            released.append(f"b{i}")
        clock.advance(1.0)
        released += wm.on_tick().released
    released += wm.flush().released
    assert wm.pending_tokens() == 0 and set(released) == {f"b{i}" for i in range(10)}
    assert wm.stats()["keys"] <= 2 and wm.stats()["closed_windows"] <= 4


# --- property: with small bounds, no event vanishes ------------------------------------------------------------
DEFINITIONS = [tumbling(1), tumbling(2), sliding(3, 1), sliding(6, 2)]
add_op = st.tuples(
    st.just("add"), st.integers(0, 5), st.integers(0, 11), st.integers(0, 6)
)  # key, event, token
ops = st.lists(
    st.one_of(
        add_op,
        add_op,
        add_op,
        st.tuples(st.just("batch"), st.integers(0, 6), st.lists(add_op, max_size=4)),
        st.tuples(st.just("tick"), st.sampled_from([0.0, 0.5, 1.0, 3.0, 30.0])),
        st.tuples(st.just("sleep"), st.sampled_from([1.0, 3.0, 12.0])),
    ),
    max_size=80,
)


def windows_of(ts: int, definitions: list[Any]) -> list[tuple[Any, int]]:
    out = []
    for d in definitions:
        start = ts - ts % d.slide_ms
        while start > ts - d.length_ms:
            out.append((d, start))
            start -= d.slide_ms
    return out


@settings(max_examples=300, deadline=None)
@given(
    ops,
    st.lists(st.sampled_from(DEFINITIONS), min_size=1, max_size=2, unique=True),
    st.dictionaries(st.tuples(st.integers(0, 5), st.integers(0, 11)), st.integers(-3_000, 20_000)),
    st.integers(1, 3),
    st.sampled_from([1, 2, 5, 1_000]),
)
def test_with_small_bounds_every_event_is_in_its_windows_last_rows_or_late(
    script: list[Any], definitions: list[Any], times: dict[Any, int], max_keys: int, max_closed: int
) -> None:
    clock = ManualClock()
    limits = WindowSettings(
        tuple(definitions), 2_000, 2.0, 0.01, max_keys=max_keys, max_closed_windows=max_closed
    )
    wm = WindowManager(limits, clock, retain_closed_s=10.0)
    rows: dict[
        tuple[Any, Any, int], frozenset[str]
    ] = {}  # the last emit of each window, as the store keeps it
    counted: dict[tuple[int, int], int] = {}  # events with a delivery that was not late -> their time
    used: set[str] = set()
    released: set[str] = set()

    def collect(out: Any) -> None:
        for w in (*out.closed, *out.reemitted):
            rows[(w.key, w.definition, w.start)] = w.event_ids
            assert all(s.count == len(w.event_ids) for s in w.results.values())
        released.update(out.released)

    def add(op: Any, token: str) -> None:
        _, key, event, _ = op
        ts = T0 + times.get((key, event), 500 * event)
        out = wm.add(("t", f"d{key}"), f"e{event}", ts, {"v": float(event)}, token)
        used.add(token)
        collect(out)
        if not out.late:
            counted[(key, event)] = ts

    for op in script:
        if op[0] == "add":
            add(op, f"k{op[3]}")
        elif op[0] == "batch":
            token = f"b{op[1]}"
            wm.hold(token)
            for a in op[2]:
                add(a, token)
            if wm.unhold(token):
                released.add(token)
        elif op[0] == "sleep":
            clock.advance(op[1])
        else:
            clock.advance(op[1])
            collect(wm.on_tick())
        stats = wm.stats()
        assert stats["keys"] <= max_keys and stats["resting_keys"] <= max_keys
        assert stats["closed_windows"] <= max_closed
    collect(wm.flush())
    assert wm.pending_tokens() == 0 and used <= released  # nothing stays un-acked
    for (key, event), ts in counted.items():
        for definition, start in windows_of(ts, definitions):
            assert f"e{event}" in rows.get((("t", f"d{key}"), definition, start), frozenset()), (key, event)
