"""KafkaSource's own buffering, pausing and re-reading never skip an offset (pure logic: a consumer stand-in).

The stand-in behaves as KafkaConsumer does for what the source uses: `poll` returns records from each
partition's position and moves it past them (paused or not: the source pauses by itself, not with
KafkaConsumer.pause), `seek` moves a position. The end-to-end bench once lost a few records per run: a paused
partition's buffer was dropped one record at a time, and after a resume the rest of it was emitted before the
re-read of the dropped ones, which then counted as emitted before while the commit moved past them.
"""

from __future__ import annotations

from collections import namedtuple
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kafka.structs import TopicPartition

from squall.clock import ManualClock
from squall.kafka.source import KafkaSource

TOPIC = "iot.events"
Record = namedtuple("Record", "offset value key")


class StandInConsumer:
    def __init__(self, logs: dict[int, list[int]], batch: int) -> None:
        self.logs = logs  # partition -> the offsets that exist (a gap: an offset that does not)
        self.pos: dict[TopicPartition, int] = {}
        self.batch = batch
        self.committed: dict[TopicPartition, int] = {}

    def topics(self) -> set[str]:
        return {TOPIC}

    def partitions_for_topic(self, topic: str) -> set[int]:
        return set(self.logs)

    def assign(self, tps: list[TopicPartition]) -> None:
        for tp in tps:
            self.pos.setdefault(tp, 0)

    def position(self, tp: TopicPartition, timeout_ms: int | None = None) -> int:
        return self.pos[tp]

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.pos[tp] = offset

    def poll(self, timeout_ms: int = 0, max_records: int = 500) -> dict[TopicPartition, list[Record]]:
        out: dict[TopicPartition, list[Record]] = {}
        left = max_records
        for tp in sorted(self.pos, key=lambda t: t.partition):
            take = [o for o in self.logs[tp.partition] if o >= self.pos[tp]][: min(self.batch, left)]
            if take:
                out[tp] = [Record(o, f"{tp.partition}:{o}".encode(), None) for o in take]
                self.pos[tp] = take[-1] + 1
                left -= len(take)
        return out

    def commit(self, offsets: dict[TopicPartition, Any], timeout_ms: int | None = None) -> None:
        self.committed.update({tp: meta.offset for tp, meta in offsets.items()})

    def close(self, autocommit: bool = False) -> None:
        pass


def make_source(consumer: StandInConsumer, clock: ManualClock, max_uncommitted: int) -> KafkaSource:
    pipeline = {
        "kafka": {
            "events_topic": TOPIC,
            "max_uncommitted": max_uncommitted,
            "max_poll_records": 4,
            "commit_interval_s": 1.0,
            "partition_refresh_s": 0,
            "max_retries": 100,
            "backoff_initial_s": 0,
            "backoff_period_s": 0,
        }
    }
    return KafkaSource(pipeline, clock=clock, consumer_factory=lambda **_: consumer, sleep=clock.advance)


@settings(max_examples=150, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=3),
    gaps=st.sets(st.integers(min_value=0, max_value=39), max_size=5),
    cap=st.integers(min_value=1, max_value=6),
    batch=st.integers(min_value=1, max_value=9),
    steps=st.lists(st.sampled_from(["poll", "poll", "poll", "ack_oldest", "ack_all", "tick"]), max_size=400),
)
def test_every_offset_is_emitted_once_in_order_and_committed(
    sizes: list[int], gaps: set[int], cap: int, batch: int, steps: list[str]
) -> None:
    logs = {p: [o for o in range(n) if o not in gaps or p > 0] for p, n in enumerate(sizes)}
    consumer = StandInConsumer(logs, batch)
    clock = ManualClock()
    source = make_source(consumer, clock, cap)
    emitted: dict[int, list[int]] = {p: [] for p in logs}
    in_flight: list[str] = []

    def poll() -> None:
        polled = source.poll()
        if polled is not None:
            msg_id, payload, topic, partition, offset = polled
            assert payload == f"{partition}:{offset}".encode()
            emitted[partition].append(offset)
            in_flight.append(msg_id)

    def drained() -> bool:
        return not in_flight and all(len(emitted[p]) >= len(offsets) for p, offsets in logs.items())

    drain = ["poll", "poll", "poll", "ack_all", "tick"]
    for i, step in enumerate([*steps, *drain * 400]):
        if i >= len(steps) and drained():
            break
        if step == "poll":
            poll()
        elif step == "ack_oldest" and in_flight:
            source.ack(in_flight.pop(0))
            clock.advance(0.25)
        elif step == "ack_all":
            while in_flight:
                source.ack(in_flight.pop())
            poll()  # a poll commits first (a paused partition wants it at once) and resumes it
        elif step == "tick":
            clock.advance(1.0)
    source.deactivate()  # commits, as a deactivated spout does
    for p, offsets in logs.items():
        assert emitted[p] == offsets, f"partition {p}: emitted {emitted[p]}, log {offsets}"
        tp = TopicPartition(TOPIC, p)
        assert consumer.committed.get(tp, 0) == (offsets[-1] + 1 if offsets else 0)
    assert not in_flight


def test_a_paused_partition_with_a_buffer_behind_it_loses_nothing_after_the_resume() -> None:
    """The bench's case: two partitions, a cap of 2, fetches that buffer a paused partition's records, acks
    (and so a commit and a resume) between polls. The old code emitted (0, 11) right after (0, 9)."""
    consumer = StandInConsumer({0: list(range(12)), 1: list(range(12))}, batch=4)
    source = make_source(consumer, ManualClock(), max_uncommitted=2)
    seen, in_flight = [], []
    for _ in range(40):
        for _ in range(3):
            polled = source.poll()
            if polled is not None:
                seen.append((polled[3], polled[4]))
                in_flight.append(polled[0])
        for msg_id in in_flight:
            source.ack(msg_id)
        in_flight.clear()
    assert sorted(seen) == [(p, o) for p in (0, 1) for o in range(12)]
    assert [o for p, o in seen if p == 0] == list(range(12))


def test_a_real_gap_is_read_twice_then_taken() -> None:
    consumer = StandInConsumer({0: [0, 1, 5, 6]}, batch=10)
    source = make_source(consumer, ManualClock(), max_uncommitted=100)
    offsets = [p[4] for p in (source.poll() for _ in range(10)) if p is not None]
    assert offsets == [0, 1, 5, 6] and source.stats["gaps_reread"] == 1


@settings(max_examples=150, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=3),
    gaps=st.sets(st.integers(min_value=0, max_value=39), max_size=5),
    cap=st.integers(min_value=1, max_value=6),
    batch=st.integers(min_value=1, max_value=9),
    limit=st.integers(min_value=1, max_value=12),
    steps=st.lists(
        st.sampled_from(["poll", "poll", "poll", "ack_oldest", "ack_all", "fail_oldest", "tick"]),
        max_size=400,
    ),
)
def test_runs_emit_every_offset_once_in_order_and_commit_with_failures_retried(
    sizes: list[int], gaps: set[int], cap: int, batch: int, limit: int, steps: list[str]
) -> None:
    """The same as above through `poll_batch` / `ack_run` / `fail_run`: runs hold consecutive offsets of one
    partition, a failed run's messages come again one by one, and every offset is committed at the end."""
    logs = {p: [o for o in range(n) if o not in gaps or p > 0] for p, n in enumerate(sizes)}
    consumer = StandInConsumer(logs, batch)
    clock = ManualClock()
    source = make_source(consumer, clock, cap)
    first_time: dict[int, list[int]] = {p: [] for p in logs}
    again: dict[int, list[int]] = {p: [] for p in logs}
    in_flight: list[Any] = []

    def poll() -> None:
        runs = source.poll_batch(limit)
        assert sum(len(payloads) for _, payloads in runs) <= limit
        for handle, payloads in runs:
            tp, first, count = handle
            assert count == len(payloads) >= 1
            offsets = list(range(first, first + count))
            assert payloads == [f"{tp.partition}:{o}".encode() for o in offsets]
            for o in offsets:
                (again if o in first_time[tp.partition] else first_time)[tp.partition].append(o)
            in_flight.append(handle)

    def drained() -> bool:
        return not in_flight and all(len(first_time[p]) >= len(offsets) for p, offsets in logs.items())

    drain = ["poll", "poll", "poll", "ack_all", "tick"]
    for i, step in enumerate([*steps, *drain * 400]):
        if i >= len(steps) and drained() and not source.pending:
            break
        if step == "poll":
            poll()
        elif step == "ack_oldest" and in_flight:
            source.ack_run(in_flight.pop(0))
            clock.advance(0.25)
        elif step == "fail_oldest" and in_flight:
            handle = in_flight.pop(0)
            source.fail_run(handle)
        elif step == "ack_all":
            while in_flight:
                source.ack_run(in_flight.pop())
            poll()
        elif step == "tick":
            clock.advance(1.0)
    source.deactivate()
    assert not in_flight and source.pending == 0
    for p, offsets in logs.items():
        assert first_time[p] == offsets, f"partition {p}: emitted {first_time[p]}, log {offsets}"
        assert set(again[p]) <= set(offsets)  # re-emits are retries of failed messages only
        tp = TopicPartition(TOPIC, p)
        assert consumer.committed.get(tp, 0) == (offsets[-1] + 1 if offsets else 0)
    assert source.stats["dead_lettered"] == 0


def test_a_clean_run_is_taken_at_once_up_to_the_room_below_max_uncommitted() -> None:
    consumer = StandInConsumer({0: list(range(20))}, batch=10)
    source = make_source(consumer, ManualClock(), max_uncommitted=6)  # fetches of max_poll_records 4
    tp = TopicPartition(TOPIC, 0)
    [(first, payloads)] = source.poll_batch(100)
    assert first == (tp, 0, 4) and payloads == [f"0:{o}".encode() for o in range(4)]
    [(second, payloads)] = source.poll_batch(100)
    assert second == (tp, 4, 2) and source.paused == {tp}  # 2 of the 4 fetched: the rest is read again
    assert source.poll_batch(100) == []
    source.ack_run(first)
    source.ack_run(second)
    assert source.stats["acked"] == 6
    [(third, payloads)] = source.poll_batch(100)  # the commit resumes it, from offset 6
    assert third[1] == 6 and payloads[0] == b"0:6"


def test_a_poll_while_every_partition_is_paused_waits_instead_of_spinning() -> None:
    consumer = StandInConsumer({0: list(range(20)), 1: list(range(20))}, batch=2)
    clock = ManualClock()
    source = make_source(consumer, clock, max_uncommitted=2)
    handles = [h for _ in range(10) for h, _ in source.poll_batch(100)]
    assert len(source.paused) == 2
    before = clock.now()
    assert source.poll_batch(100) == [] and source.poll() is None
    assert clock.now() - before == pytest.approx(0.02)  # 10 ms each: poll_timeout_ms allows more
    for handle in handles:
        source.ack_run(handle)
    before = clock.now()
    assert source.poll_batch(100) != [] and clock.now() == before  # resumed: no wait
