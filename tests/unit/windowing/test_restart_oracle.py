"""Restart exactness of the window engine (pure logic, ManualClock, a dict as the store).

The scenario the Storm fault test found: a partition holds a1 (device A), b1 (device B), a2 (device A). A's window
closes and is stored with both a1 and a2 (count 2) while B's window still holds b1, so the source's committed
offset (the contiguous acked prefix) stays at b1. After a crash the fresh instance is fed b1, a2, ... again.
Without the store oracle it rebuilds A's window from a2 alone and its upsert would overwrite count 2 with 1.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable

import pytest

from squall.clock import ManualClock
from squall.windowing.definitions import WindowDefinition, WindowSettings, tumbling
from squall.windowing.drafts import decode_draft, encode_draft
from squall.windowing.manager import Draft, Key, Outcome, WindowManager

T0 = 1_767_225_600_000
A: Key = ("acme", "dev-a")
B: Key = ("acme", "dev-b")
SETTINGS = WindowSettings(definitions=(tumbling(10),), allowed_lateness_ms=5_000, idle_timeout_s=5.0)
TWO = WindowSettings(definitions=(tumbling(10), tumbling(60)), allowed_lateness_ms=5_000, idle_timeout_s=5.0)
RowKey = tuple[Key, int, int, str]  # (key, window_s, window_start, metric)

# (key, event_id, ts, values) in partition order; the committed offset after the first run is 1 (b1).
PARTITION = [
    (A, "a1", T0 + 1_000, {"t": 1.0}),
    (B, "b1", T0 + 2_000, {"t": 10.0}),
    (A, "a2", T0 + 3_000, {"t": 2.0}),
    (A, "a3", T0 + 16_000, {"t": 3.0}),  # A's watermark reaches T0 + 11 s: A's first window closes
]


class DictStore:
    """Rows as persist would upsert them, and the oracle a fresh instance asks."""

    def __init__(self) -> None:
        self.rows: dict[RowKey, tuple[int, float]] = {}
        self.drafts: dict[RowKey, str] = {}  # as the aggregate bolt writes them beside the rows
        self.asked: list[RowKey] = []

    def persist(self, outcomes: Iterable[Outcome]) -> None:
        for outcome in outcomes:
            for window in [*outcome.closed, *outcome.reemitted]:
                for metric, s in window.results.items():
                    row = (window.key, window.definition.length_s, window.start, metric)
                    self.rows[row] = (s.count, s.sum)
                    if window.draft is not None:
                        self.drafts[row] = encode_draft(window.event_ids, window.draft[metric])
                    elif window.clears_draft:
                        self.drafts[row] = ""

    def oracle(self, key: Key, definition: WindowDefinition, start: int, metric: str) -> bool | Draft:
        row = (key, definition.length_s, start, metric)
        self.asked.append(row)
        if row not in self.rows:
            return False
        draft = self.drafts.get(row)
        return decode_draft(draft) if draft else True


def feed(manager: WindowManager, events: list[tuple[Key, str, int, dict[str, float]]]) -> list[Outcome]:
    return [manager.add(key, event_id, ts, values, event_id) for key, event_id, ts, values in events]


def released(outcomes: Iterable[Outcome]) -> set[Hashable]:
    return {token for outcome in outcomes for token in outcome.released}


def first_run(store: DictStore, settings: WindowSettings = SETTINGS) -> None:
    outcomes = feed(WindowManager(settings, ManualClock()), PARTITION)
    store.persist(outcomes)
    assert store.rows[(A, 10, T0, "t")] == (2, 3.0)  # a1 + a2, complete
    assert "b1" not in released(outcomes)  # B's window is open: the committed offset stays at b1


def test_without_the_oracle_a_fresh_instance_overwrites_the_complete_row() -> None:
    store = DictStore()
    first_run(store)
    fresh = WindowManager(SETTINGS, ManualClock())
    outcomes = feed(fresh, PARTITION[1:])  # resume at the committed offset
    store.persist(outcomes)
    assert store.rows[(A, 10, T0, "t")] == (1, 2.0)  # the bug the fix prevents: a partial row won


def test_a_fresh_instance_with_the_oracle_keeps_the_stored_row_and_releases_the_redelivery() -> None:
    store = DictStore()
    first_run(store)
    complete = dict(store.rows)
    fresh = WindowManager(SETTINGS, ManualClock())
    fresh.recover_from(store.oracle, horizon_s=180.0)
    b1, a2, a3 = feed(fresh, PARTITION[1:])
    assert a2.stored and not a2.duplicate and not a2.late and a2.released == ["a2"]  # counted already: ack
    assert [w.results for w in a3.closed] == [{}]  # A's first window closes empty: no row overwrites it
    assert not b1.stored and b1.released == []  # B's window was never stored: b1 is counted and held
    store.persist([b1, a2, a3, fresh.flush()])
    assert store.rows[(A, 10, T0, "t")] == complete[(A, 10, T0, "t")] == (2, 3.0)
    assert store.rows[(B, 10, T0, "t")] == (1, 10.0)
    assert store.rows[(A, 10, T0 + 10_000, "t")] == (1, 3.0)


def test_only_stored_windows_and_metrics_are_skipped() -> None:
    """a2 is in A's 10 s window (stored) and its 60 s window (not stored yet: held a1 and a2, so both replay);
    a metric the stored window did not have is still counted there."""
    store = DictStore()
    first_run(store, TWO)
    assert (A, 60, T0, "t") not in store.rows
    fresh = WindowManager(TWO, ManualClock())
    fresh.recover_from(store.oracle, horizon_s=180.0)
    replay = [PARTITION[0], PARTITION[1], (A, "a2", T0 + 3_000, {"t": 2.0, "h": 7.0}), PARTITION[3]]
    outcomes = feed(fresh, replay)
    assert not any(o.stored for o in outcomes)  # every event is counted in its open 60 s window
    outcomes.append(fresh.flush())
    emitted = {
        (w.definition.length_s, w.start, m): s.count
        for o in outcomes
        for w in o.closed
        if w.key == A
        for m, s in w.results.items()
    }
    assert (10, T0, "t") not in emitted  # stored: not re-emitted
    assert emitted[(10, T0, "h")] == 1  # not stored: counted
    assert emitted[(60, T0, "t")] == 3  # a1, a2, a3 all replayed into the open 60 s window
    assert released(outcomes) == {"a1", "b1", "a2", "a3"}
    assert fresh.pending_tokens() == 0


def test_a_redelivery_of_a_skipped_event_is_not_late() -> None:
    store = DictStore()
    first_run(store)
    fresh = WindowManager(SETTINGS, ManualClock())
    fresh.recover_from(store.oracle, horizon_s=180.0)
    feed(fresh, PARTITION[1:])
    again = fresh.add(A, "a2", T0 + 3_000, {"t": 2.0}, "a2-again")  # behind A's watermark now
    assert not again.late and again.released == ["a2-again"]


def test_the_oracle_is_asked_once_per_window_and_metric_and_only_within_the_horizon() -> None:
    store = DictStore()
    first_run(store)
    clock = ManualClock()
    fresh = WindowManager(SETTINGS, clock)
    fresh.recover_from(store.oracle, horizon_s=60.0)
    fresh.add(A, "a2", T0 + 3_000, {"t": 2.0}, "a2")
    fresh.add(A, "a2b", T0 + 4_000, {"t": 2.5}, "a2b")  # same window and metric: no second read
    assert store.asked == [(A, 10, T0, "t")]
    clock.advance(60.0)
    fresh.add(A, "a5", T0 + 25_000, {"t": 5.0}, "a5")  # past the horizon: no reads any more
    assert store.asked == [(A, 10, T0, "t")]


def test_an_oracle_failure_counts_nothing_so_the_tuple_can_fail_and_replay() -> None:
    def broken(key: Key, definition: WindowDefinition, start: int, metric: str) -> bool:
        raise TimeoutError("store read timed out")

    fresh = WindowManager(TWO, ManualClock())
    fresh.recover_from(broken, horizon_s=180.0)
    with pytest.raises(TimeoutError):
        fresh.add(A, "a1", T0 + 1_000, {"t": 1.0}, "a1")
    assert fresh.pending_tokens() == 0
    store = DictStore()
    fresh.recover_from(store.oracle, horizon_s=180.0)
    outcome = fresh.add(A, "a1", T0 + 1_000, {"t": 1.0}, "a1")  # the replay is counted once
    assert not outcome.duplicate and fresh.pending_tokens() == 1
    closed = fresh.flush().closed
    assert [(w.definition.length_s, w.results["t"].count) for w in closed] == [(10, 1), (60, 1)]


def test_the_oracle_is_not_asked_about_windows_this_instance_emitted_itself() -> None:
    """An idle close is provisional: an on-time event reopens the window this instance emitted, even within the
    recovery horizon (the store has the early row, but it is this instance's own, not a previous one's)."""
    store = DictStore()
    clock = ManualClock()
    fresh = WindowManager(SETTINGS, clock)
    fresh.recover_from(store.oracle, horizon_s=600.0)
    fresh.add(A, "x1", T0 + 1_000, {"t": 1.0}, "x1")
    clock.advance(SETTINGS.idle_timeout_s)
    closed = fresh.on_tick().closed
    store.persist([Outcome(closed=closed)])
    asked = list(store.asked)
    fresh.add(A, "x2", T0 + 2_000, {"t": 3.0}, "x2")  # reopens; no read, nothing skipped
    assert store.asked == asked
    [complete] = fresh.flush().closed
    assert complete.results["t"].count == 2


def test_an_on_time_event_after_a_restart_joins_a_window_an_idle_timeout_closed_before_it() -> None:
    """A stall closes A's window early (provisional: stored with a1, a1 acked), the worker dies, and a2 (on time:
    the watermark never moved) arrives at the fresh instance. The final row should count a1 and a2."""
    store = DictStore()
    clock = ManualClock()
    first = WindowManager(SETTINGS, clock)
    outcomes = feed(first, [(A, "a1", T0 + 1_000, {"t": 1.0})])
    clock.advance(SETTINGS.idle_timeout_s)
    outcomes.append(first.on_tick())  # the idle close: provisional, a1's tuple is released (acked, committed)
    store.persist(outcomes)
    assert store.rows[(A, 10, T0, "t")] == (1, 1.0) and "a1" in released(outcomes)
    fresh = WindowManager(SETTINGS, ManualClock())
    fresh.recover_from(store.oracle, 180.0)
    after = feed(fresh, [(A, "a2", T0 + 3_000, {"t": 2.0}), (A, "a3", T0 + 16_000, {"t": 3.0})])
    store.persist(after)
    assert store.rows[(A, 10, T0, "t")] == (2, 3.0)


def stalled_then_restarted(store: DictStore) -> WindowManager:
    """a1, a2 counted; a stall closes the window early (a provisional row with its draft is stored and both
    tuples are acked); the worker dies. Returns the fresh instance, recovering from `store`."""
    clock = ManualClock()
    first = WindowManager(TWO, clock)
    outcomes = feed(first, [(A, "a1", T0 + 1_000, {"t": 1.0}), (A, "a2", T0 + 2_000, {"t": 2.0, "u": 5.0})])
    clock.advance(TWO.idle_timeout_s)
    outcomes.append(first.on_tick())
    store.persist(outcomes)
    assert set(store.drafts) == {(A, n, T0, m) for n in (10, 60) for m in "tu"}
    assert {"a1", "a2"} <= released(outcomes)
    fresh = WindowManager(TWO, ManualClock())
    fresh.recover_from(store.oracle, 180.0)
    return fresh


def test_a_redelivery_after_a_restart_counts_once_in_a_window_stored_with_a_draft() -> None:
    """a2 is re-delivered (acked, but past the committed offset) with a3 on time: the rows go on from the
    drafts, a2 counts once, and the final emit clears the drafts."""
    store = DictStore()
    fresh = stalled_then_restarted(store)
    after = feed(
        fresh,
        [
            (A, "a2", T0 + 2_000, {"t": 2.0, "u": 5.0}),
            (A, "a3", T0 + 4_000, {"t": 4.0}),
            (A, "a4", T0 + 70_000, {"t": 9.0}),  # every window of a1-a3 is final
        ],
    )
    store.persist(after)
    assert store.rows[(A, 10, T0, "t")] == (3, 7.0)
    assert store.rows[(A, 10, T0, "u")] == (1, 5.0)
    assert store.rows[(A, 60, T0, "t")] == (3, 7.0)
    assert all(store.drafts[(A, n, T0, m)] == "" for n in (10, 60) for m in "tu")


def test_a_provisional_window_the_watermark_passes_is_written_again_without_its_draft() -> None:
    """Idle close (draft), then a newer event makes the window final without reopening it: its row is emitted
    again (a re-emit anchored to that event) with the draft cleared, so a fresh instance takes it as complete."""
    store = DictStore()
    clock = ManualClock()
    first = WindowManager(SETTINGS, clock)
    outcomes = feed(first, [(A, "a1", T0 + 1_000, {"t": 1.0})])
    clock.advance(SETTINGS.idle_timeout_s)
    outcomes.append(first.on_tick())
    later = first.add(A, "a2", T0 + 30_000, {"t": 2.0}, "a2")  # watermark T0 + 25 s: [T0, T0 + 10 s) is final
    assert [w.clears_draft for w in later.reemitted] == [True]
    assert later.reemitted[0].draft is None and later.reemitted[0].results["t"].count == 1
    store.persist([*outcomes, later])
    assert store.drafts[(A, 10, T0, "t")] == ""
    fresh = WindowManager(SETTINGS, ManualClock())
    fresh.recover_from(store.oracle, 180.0)
    # a replay of a1 after the restart: the row is complete, nothing is counted or emitted again
    replay = fresh.add(A, "a1", T0 + 1_000, {"t": 1.0}, "r1")
    assert replay.stored and replay.released == ["r1"]
    store.persist([replay, fresh.flush()])
    assert store.rows[(A, 10, T0, "t")] == (1, 1.0)


def test_events_past_every_stored_window_skip_the_questions_and_count_the_same() -> None:
    """`clear` (what the aggregate bolt derives from its reads: ts past the end of every stored window of the
    key) spares the oracle's questions; the rows are those of asking every time."""

    def run(with_clear: bool) -> tuple[DictStore, DictStore]:
        store = DictStore()
        first_run(store, TWO)
        stored_until = {
            key: max(start + length * 1000 for (k, length, start, _) in store.rows if k == key)
            for key in {k for (k, _, _, _) in store.rows}
        }

        def clear(key: Key, ts: int, values: object) -> bool:
            return ts >= stored_until.get(key, -1)

        fresh = WindowManager(TWO, ManualClock())
        fresh.recover_from(store.oracle, 180.0, clear if with_clear else None)
        later = [
            (A, "a4", T0 + 61_000, {"t": 4.0}),  # past A's stored 10 s window: clear, nothing asked
            (A, "a5", T0 + 62_000, {"t": 5.0, "u": 1.0}),  # a new metric in a window opened without asking
            (A, "a6", T0 + 140_000, {"t": 6.0}),
        ]
        after = DictStore()
        after.persist(feed(fresh, PARTITION[1:] + later))
        after.persist([fresh.flush()])
        return store, after

    asked_always, rows_always = run(False)
    asked_clear, rows_clear = run(True)
    assert rows_clear.rows == rows_always.rows
    assert len(asked_clear.asked) < len(asked_always.asked)
    assert not any(start >= T0 + 60_000 for (_, _, start, _) in asked_clear.asked)


def test_a_draft_survives_its_text_exactly_and_anything_else_is_refused() -> None:
    values = [0.1, 1e-310, -0.0, 2.0**60, 1 / 3]
    ids, back = decode_draft(encode_draft({"b", "a"}, values))
    assert ids == ["a", "b"] and [v.hex() for v in back] == [v.hex() for v in values]
    for bad in ('{"a": 1}', "[[1], [2.0]]", '[["a"], ["x"]]', '[["a"]]', '[["a"], [true]]'):
        with pytest.raises(ValueError, match="metric_windows.draft"):
            decode_draft(bad)
