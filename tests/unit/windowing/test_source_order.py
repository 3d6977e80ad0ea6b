"""Replays judged in source order: an event that arrives behind newer events of its device (a tuple lost with a
worker, replayed after the message timeout) is late only if it is late among the events produced before it.
If it is on time it joins its windows, and a window that already closed is amended and emitted again."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from squall.clock import ManualClock
from squall.errors import ConfigError
from squall.pipeline.truth import compare_rows, compute_truth
from squall.windowing.definitions import WindowSettings, parse_window_settings, tumbling
from squall.windowing.manager import ClosedWindow, WindowManager
from tests.unit.windowing.test_windowing import DEFS, produced, rows_of, telemetry

T0 = 1_767_225_600_000
KEY = ("acme", "dev-1")
P = ("iot.events", 0)  # one partition


def make(retain_s: float = 180.0) -> tuple[WindowManager, ManualClock]:
    clock = ManualClock()
    return WindowManager(WindowSettings((tumbling(10),), 2000, 5.0, 0.01), clock, retain_s), clock


def test_without_a_position_a_replay_behind_the_watermark_is_late() -> None:
    wm, _ = make()
    wm.add(KEY, "a", T0 + 1000, {"t": 1.0}, "t1")
    assert wm.add(KEY, "c", T0 + 13_000, {"t": 3.0}, "t3").closed  # [0, 10 s) closes without b
    assert wm.add(KEY, "b", T0 + 2000, {"t": 2.0}, "t2").late


def test_a_replay_on_time_in_source_order_amends_the_closed_window_once_per_tuple() -> None:
    wm, _ = make()
    wm.add(KEY, "a", T0 + 1000, {"t": 1.0}, "t1", (P, 10))
    # b (offset 11) and b2 (12) are lost; c (13) overtakes them and closes [0, 10 s)
    [first] = wm.add(KEY, "c", T0 + 13_000, {"t": 3.0}, "t3", (P, 13)).closed
    assert first.results["t"].count == 1 and wm.amended() is None
    # the replay of b and b2 in one tuple: on time among offsets 10..12, so both join the window
    wm.hold("r")
    for ident, ts, value, offset in (("b", 2000, 2.0, 11), ("b2", 4000, 4.0, 12)):
        out = wm.add(KEY, ident, T0 + ts, {"t": value}, "r", (P, offset))
        assert not out.late and not out.duplicate and out.closed == []
    amended = wm.amended()
    assert amended is not None and wm.amended() is None
    [window] = amended.closed
    summary = window.results["t"]
    assert (window.start, summary.count, summary.sum, summary.max) == (T0, 3, 7.0, 4.0)
    assert window.tokens == ("r", "r") and window.event_ids == {"a", "b", "b2"}
    assert amended.released == []  # the tuple is still held: `unhold` releases it
    assert wm.unhold("r") and wm.pending_tokens() == 1  # only c's open window holds a token
    assert wm.stats()["amended_windows"] == 1


def test_a_replay_late_among_the_events_before_it_is_still_late() -> None:
    wm, _ = make()
    wm.add(KEY, "a", T0 + 9000, {"t": 1.0}, "t1", (P, 10))
    wm.add(KEY, "c", T0 + 13_000, {"t": 3.0}, "t3", (P, 12))
    # offset 11 was produced after a (9 s): 6.5 s is behind a's time by more than the 2 s allowed
    out = wm.add(KEY, "b", T0 + 6500, {"t": 2.0}, "t2", (P, 11))
    assert out.late and out.released == ["t2"] and wm.amended() is None


def test_a_re_delivery_of_a_counted_event_re_emits_and_counts_nothing_twice() -> None:
    wm, _ = make()
    wm.add(KEY, "a", T0 + 1000, {"t": 1.0}, "t1", (P, 10))
    wm.add(KEY, "c", T0 + 13_000, {"t": 3.0}, "t3", (P, 11))
    out = wm.add(KEY, "a", T0 + 1000, {"t": 1.0}, "t1b", (P, 10))
    assert [w.results["t"].count for w in out.reemitted] == [1] and wm.amended() is None
    wm.add(KEY, "b", T0 + 2000, {"t": 2.0}, "t2", (P, 10))  # a replayed neighbour amends
    again = wm.add(KEY, "b", T0 + 2000, {"t": 2.0}, "t2b", (P, 10))  # and its own re-delivery counts once
    assert again.duplicate or again.reemitted or again.closed == []
    amended = wm.amended()
    assert amended is not None and amended.closed[-1].results["t"].count == 2


def test_a_replay_into_a_window_the_device_never_opened_opens_and_emits_it() -> None:
    wm, _ = make()
    wm.add(KEY, "a", T0 + 1000, {"t": 1.0}, "t1", (P, 10))
    wm.add(KEY, "c", T0 + 25_000, {"t": 3.0}, "t3", (P, 12))  # closes [0, 10 s); [10, 20 s) never opened
    # b was produced after a (1 s) only, so 19 s is on time; it is alone in [10, 20 s), which is already due
    out = wm.add(KEY, "b", T0 + 19_000, {"t": 2.0}, "t2", (P, 11))
    assert [(w.start, w.results["t"].count) for w in out.closed] == [(T0 + 10_000, 1)]
    assert out.released == ["t2"]


def test_a_recovering_instance_asks_the_store_before_it_opens_a_window_for_a_replay() -> None:
    wm, _ = make()
    asked = []

    def stored(key: Any, definition: Any, start: int, metric: str) -> bool:
        asked.append((start, metric))
        return metric == "t"  # a previous instance stored this window's `t` row, not its `u` row

    wm.recover_from(stored, horizon_s=60)
    wm.add(KEY, "c", T0 + 25_000, {"t": 3.0, "u": 3.0}, "t3", (P, 12))
    out = wm.add(KEY, "b", T0 + 4000, {"t": 2.0, "u": 2.0}, "t2", (P, 11))  # a replay, overtaken by c
    assert (T0, "t") in asked and (T0, "u") in asked
    [window] = out.closed
    assert window.start == T0 and set(window.results) == {"u"}  # the stored `t` row is not overwritten
    assert out.released == ["t2"]


def test_a_replay_into_a_forgotten_window_is_late_never_a_partial_row() -> None:
    wm, clock = make(retain_s=60)
    wm.add(KEY, "a", T0 + 1000, {"t": 1.0}, "t1", (P, 10))
    wm.add(KEY, "c", T0 + 13_000, {"t": 3.0}, "t3", (P, 12))
    clock.advance(61)
    wm.on_tick()  # the closed [0, 10 s) is forgotten (its retention passed)
    assert wm.add(KEY, "b", T0 + 2000, {"t": 2.0}, "t2", (P, 11)).late


def test_events_from_two_streams_of_one_key_are_judged_by_arrival() -> None:
    wm, _ = make()
    wm.add(KEY, "a", T0 + 1000, {"t": 1.0}, "t1", (P, 10))
    wm.add(KEY, "c", T0 + 13_000, {"t": 3.0}, "t3", (("iot.events", 1), 5))
    assert wm.add(KEY, "b", T0 + 2000, {"t": 2.0}, "t2", (P, 11)).late


def test_a_long_stream_keeps_a_bounded_staircase_and_still_amends_retained_windows() -> None:
    wm, clock = make(retain_s=30)
    for second in range(0, 600):  # ten minutes, one event a second; windows are kept 30 s of processing time
        clock.advance(1)
        if second % 20 == 7:
            continue  # lost for now
        wm.add(KEY, f"e{second}", T0 + second * 1000, {"t": 1.0}, f"t{second}", (P, second))
    state = wm._keys[KEY]
    assert len(state.tops) < 120  # trimmed to what the retained windows need, not 570 breakpoints
    # the latest lost event is replayed: its closed window is still retained and is amended
    lost = 587
    assert wm.add(KEY, f"e{lost}", T0 + lost * 1000, {"t": 1.0}, "r", (P, lost)).late is False
    amended = wm.amended()
    assert amended is not None and amended.closed[0].results["t"].count == 10
    # an early one is gone with its window: late, as before
    assert wm.add(KEY, "e7", T0 + 7000, {"t": 1.0}, "r2", (P, 7)).late


# Property: production order with some runs of events lost and replayed later (in their order), plus
# re-deliveries, gives the truth computed in production order.
@settings(max_examples=80, deadline=None)
@given(st.randoms(use_true_random=False), st.integers(1, 3), st.integers(1, 3), st.integers(0, 10))
def test_runs_lost_and_replayed_later_give_the_truth_of_the_production_order(
    rnd: random.Random, devices: int, runs: int, dups: int
) -> None:
    lateness_ms = 2_000
    newest: dict[str, int] = {}
    seen: dict[str, int] = {}
    readings = []
    # Time advances 0-0.3 s an event. A late event (3 %) is 2 s + 15 s behind its device's newest and comes
    # after at least 31 events of the device: the at most 30 lost events before it span less than the 15 s, so
    # it is late among the events seen before it too (a device whose whole recent past is lost cannot be judged).
    for _ in range(rnd.randint(1, 200)):
        device = f"d{rnd.randrange(devices)}"
        value = round(rnd.uniform(-100, 100), 2)
        seen[device] = seen.get(device, 0) + 1
        if seen[device] > 31 and rnd.random() < 0.03:
            readings.append((device, newest[device] - lateness_ms - 15_000, value))
        else:
            newest[device] = newest.get(device, 20_000) + rnd.randint(0, 300)
            readings.append((device, newest[device], value))
    events = telemetry(readings)
    for offset, event in enumerate(events):
        event["offset"] = offset
    expected = compute_truth(produced(events), [(1, 1), (4, 2)], lateness_ms)

    arrival = events[:]
    for _ in range(runs):  # a run of at most 10 events (3 s) is lost and comes back later, in order
        start = rnd.randrange(len(arrival))
        run = arrival[start : start + rnd.randint(1, 10)]
        del arrival[start : start + len(run)]
        back = rnd.randint(start, len(arrival))
        arrival[back:back] = run
    for _ in range(dups):  # a re-delivery some time after the event's own arrival
        at = rnd.randrange(len(arrival))
        arrival.insert(rnd.randint(at + 1, len(arrival)), arrival[at])

    clock = ManualClock()
    wm = WindowManager(WindowSettings(DEFS, lateness_ms, 5.0, 0.01), clock, retain_closed_s=1e9)
    closed: list[ClosedWindow] = []
    for i, e in enumerate(arrival):
        token = f"t{i}"
        wm.hold(token)
        out = wm.add(
            (e["tenant"], e["device_id"]), e["event_id"], e["ts"], e["metrics"], token, (P, e["offset"])
        )
        closed += out.closed + out.reemitted
        amended = wm.amended()
        if amended is not None:
            closed += amended.closed
        wm.unhold(token)
    closed += wm.flush().closed
    want = {
        k: {c: r[c] for c in ("window_end", "count", "sum", "min", "max", "mean", "p50", "p95")}
        for k, r in expected.rows.items()
    }
    assert compare_rows(rows_of(closed), want) == []
    assert wm.pending_tokens() == 0


def test_the_replay_horizon_defaults_to_four_message_timeouts_and_names_its_key_when_wrong() -> None:
    assert parse_window_settings(None).replay_horizon(90) == 360
    assert parse_window_settings({"replay_horizon_s": 600}).replay_horizon(90) == 600
    with pytest.raises(ConfigError, match=r"pipeline\.windows\.replay_horizon_s"):
        parse_window_settings({"replay_horizon_s": 0})
