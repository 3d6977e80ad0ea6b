"""KafkaSource against the real broker started by `squall infra up`: commits, retries, dead letters, pausing,
start positions, round-robin assignment and partition growth. Topics and groups are unique per test."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from kafka import KafkaProducer

from squall.clock import ManualClock
from squall.kafka import admin
from squall.kafka.client import client_config
from squall.kafka.dead_letters import decode_dead_letter
from squall.kafka.settings import KafkaSettings
from squall.kafka.source import KafkaSource

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]
WAIT_S = 30.0  # bound on every wait for the broker


@pytest.fixture
def settings(kafka_bootstrap: str) -> Iterator[KafkaSettings]:
    run = uuid.uuid4().hex[:10]
    s = replace(
        KafkaSettings.from_section({"bootstrap_servers": kafka_bootstrap}),
        events_topic=f"t.src.{run}",
        dlq_topic=f"t.dlq.{run}",
        alerts_topic=f"t.alerts.{run}",
        group_id=f"g.{run}",
        commit_interval_s=1.0,
        poll_timeout_ms=200,
        backoff_initial_s=1.0,
        backoff_period_s=1.0,
        max_retries=2,
    )
    admin.ensure_topics(s, [s.events_topic], partitions=3)
    admin.ensure_topics(s, [s.dlq_topic], partitions=1)
    yield s
    admin.delete_topics(s, [s.events_topic, s.dlq_topic])


def produce(
    s: KafkaSettings, per_partition: dict[int, int], prefix: str = "m"
) -> dict[tuple[int, int], bytes]:
    """Produce to explicit partitions; return (partition, offset) -> value."""
    producer = KafkaProducer(**client_config(s, acks="all"))
    futures = []
    for p, n in per_partition.items():
        for i in range(n):
            value = f"{prefix}-{p}-{i}".encode()
            futures.append((value, producer.send(s.events_topic, value=value, partition=p)))
    out = {}
    for value, fut in futures:
        meta = fut.get(timeout=WAIT_S)
        out[(meta.partition, meta.offset)] = value
    producer.close(timeout=WAIT_S)
    return out


def drain(source: KafkaSource, want: int, max_s: float = WAIT_S) -> list[tuple[str, bytes, str, int, int]]:
    """Poll until `want` tuples came out or the bound expires (then return what came)."""
    got = []
    deadline = time.monotonic() + max_s
    while len(got) < want and time.monotonic() < deadline:
        item = source.poll()
        if item is not None:
            got.append(item)
    return got


def settle(source: KafkaSource, polls: int = 20) -> list[Any]:
    """A few more polls: anything they return is an unexpected emit."""
    extra = []
    for _ in range(polls):
        item = source.poll()
        if item is not None:
            extra.append(item)
    return extra


def test_emits_every_record_and_commits_only_the_acked_prefix(settings: KafkaSettings) -> None:
    sent = produce(settings, {0: 5, 1: 4, 2: 3})
    clock = ManualClock()
    source = KafkaSource(settings, 0, 1, clock=clock)
    source.activate()
    got = drain(source, 12)
    assert {(p, o): v for _, v, _, p, o in got} == sent
    assert all(t == settings.events_topic for _, _, t, _, _ in got)
    for msg_id, _, _, p, o in got:
        if not (p == 0 and o == 2):
            source.ack(msg_id)
    committed = source.commit()
    assert committed[next(tp for tp in committed if tp.partition == 0)] == 2  # held back by unacked offset 2
    assert admin.committed_offsets(settings, settings.events_topic) == {0: 2, 1: 4, 2: 3}
    source.ack(next(m for m, _, _, p, o in got if p == 0 and o == 2))
    clock.advance(settings.commit_interval_s)
    source.poll()  # the periodic commit happens inside poll
    assert admin.committed_offsets(settings, settings.events_topic) == {0: 5, 1: 4, 2: 3}
    source.close()


def test_failed_tuples_are_retried_with_backoff_then_dead_lettered(settings: KafkaSettings) -> None:
    sent = produce(settings, {1: 2})
    clock = ManualClock()
    source = KafkaSource(settings, 0, 1, clock=clock)
    source.activate()
    got = drain(source, 2)
    (ok_id, *_), (bad_id, bad_value, _, bad_p, bad_o) = sorted(got, key=lambda g: g[4])
    source.ack(ok_id)
    emits = 1
    for attempt in range(1, settings.max_retries + 2):
        source.fail(bad_id)
        if attempt > settings.max_retries:
            break
        assert settle(source, 3) == []  # backoff not over: nothing re-emitted
        clock.advance(settings.backoff.delay(attempt))
        again = drain(source, 1, max_s=5)
        assert [(m, v) for m, v, *_ in again] == [(bad_id, bad_value)]
        emits += 1
    assert emits == 1 + settings.max_retries
    # the last failure went to the dead-letter topic; once the broker acked it, the offset counts as done
    deadline = time.monotonic() + WAIT_S
    while source.pending and time.monotonic() < deadline:
        source.poll()
    assert source.pending == 0
    assert source.stats["dead_lettered"] == 1
    source.close()
    assert admin.committed_offsets(settings, settings.events_topic)[1] == 2
    records = admin.read_topic(settings, settings.dlq_topic)
    assert len(records) == 1
    dl = decode_dead_letter(records[0].value)
    assert (dl.reason, dl.payload, dl.source_topic, dl.source_partition, dl.source_offset) == (
        "max_retries",
        sent[(bad_p, bad_o)],
        settings.events_topic,
        bad_p,
        bad_o,
    )
    assert records[0].key == f"{settings.events_topic}:{bad_p}:{bad_o}".encode()


def test_partition_is_paused_at_max_uncommitted_and_resumed_after_commit(settings: KafkaSettings) -> None:
    s = replace(settings, max_uncommitted=5, max_poll_records=5)
    produce(s, {0: 12})
    clock = ManualClock()
    source = KafkaSource(s, 0, 1, clock=clock)
    source.activate()
    first = drain(source, 5)
    assert len(first) == 5
    assert [tp.partition for tp in source.paused] == [0]
    assert settle(source) == []  # paused: nothing more while 5 are uncommitted
    for msg_id, *_ in first:
        source.ack(msg_id)
    second = drain(source, 5)  # poll commits early because a paused partition made progress
    assert [o for *_, o in second] == [5, 6, 7, 8, 9]
    assert admin.committed_offsets(s, s.events_topic)[0] == 5
    source.close()


def test_start_positions_committed_earliest_latest(settings: KafkaSettings) -> None:
    produce(settings, {2: 10})
    a = KafkaSource(settings, 0, 1)
    a.activate()
    got = drain(a, 10)
    for msg_id, *_, o in got:
        if o < 6:
            a.ack(msg_id)
    a.close()  # commits 6
    b = KafkaSource(settings, 0, 1)  # start=committed
    assert sorted(o for *_, o in drain(b, 4)) == [6, 7, 8, 9]
    assert settle(b) == []
    b.close()
    c = KafkaSource(replace(settings, start="earliest"), 0, 1)
    assert len(drain(c, 10)) == 10
    c.close()
    d = KafkaSource(replace(settings, start="latest"), 0, 1)
    d.activate()
    assert settle(d) == []
    produce(settings, {2: 1}, prefix="new")
    assert [v for _, v, *_ in drain(d, 1)] == [b"new-2-0"]
    d.close()


def test_partitions_are_split_round_robin_between_tasks(settings: KafkaSettings) -> None:
    sent = produce(settings, {0: 3, 1: 3, 2: 3})
    tasks = [KafkaSource(settings, i, 2) for i in range(2)]
    for t in tasks:
        t.activate()
    assert [[tp.partition for tp in t.assignment] for t in tasks] == [[0, 2], [1]]
    got0, got1 = drain(tasks[0], 6), drain(tasks[1], 3)
    assert {p for *_, p, _ in got0} == {0, 2} and {p for *_, p, _ in got1} == {1}
    assert len(got0) + len(got1) == len(sent)
    for t in tasks:
        t.close()


def test_added_partitions_are_picked_up_on_refresh(settings: KafkaSettings) -> None:
    s = replace(settings, partition_refresh_s=5.0)
    clock = ManualClock()
    source = KafkaSource(s, 0, 1, clock=clock)
    source.activate()
    assert [tp.partition for tp in source.assignment] == [0, 1, 2]
    admin.add_partitions(s, s.events_topic, 4)
    produce(s, {3: 2}, prefix="grown")
    assert settle(source, 3) == []  # not refreshed yet
    clock.advance(5.0)
    got = drain(source, 2)
    assert [tp.partition for tp in source.assignment] == [0, 1, 2, 3]
    assert sorted(v for _, v, *_ in got) == [b"grown-3-0", b"grown-3-1"]
    source.close()
