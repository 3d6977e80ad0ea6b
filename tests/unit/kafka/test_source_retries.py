"""KafkaSource's retries with the default settings (a consumer stand-in, a ManualClock, no broker).

A tree fails each time a task holding part of it dies, or a store stays down past its retries. Before, the
fourth such failure dead-lettered a normal event as `max_retries` and committed past it: the event was lost from
its windows. By default (`pipeline.kafka.max_retries` null, storm-kafka-client's default) it is emitted again
after a capped backoff, however often it failed, until it is acked.
"""

from __future__ import annotations

from squall.clock import ManualClock
from squall.kafka.source import KafkaSource
from tests.unit.kafka.test_source_buffering import TOPIC, StandInConsumer


def test_a_message_that_fails_again_and_again_is_emitted_again_and_never_dead_lettered() -> None:
    consumer = StandInConsumer({0: [0, 1]}, batch=2)
    clock = ManualClock()
    pipeline = {"kafka": {"events_topic": TOPIC, "partition_refresh_s": 0, "backoff_max_s": 2.0}}
    source = KafkaSource(pipeline, clock=clock, consumer_factory=lambda **_: consumer)
    assert source.settings.max_retries is None
    first = source.poll()
    second = source.poll()
    assert first is not None and second is not None and (first[4], second[4]) == (0, 1)
    source.ack(second[0])
    emits = 1
    for _ in range(12):  # far past the old bound of 3 retries
        source.fail(first[0])
        again = None
        for _ in range(10):  # the backoff is at most backoff_max_s
            clock.advance(0.5)
            again = source.poll()
            if again is not None:
                break
        assert again is not None and again[0] == first[0] and again[4] == 0
        emits += 1
    assert emits == 13 and source._publisher is None  # no dead letter was ever published
    source.ack(first[0])
    clock.advance(1.0)
    source.poll()  # commits the acked prefix at the commit interval
    assert consumer.committed == {next(iter(consumer.pos)): 2}


def _source(consumer: StandInConsumer, clock: ManualClock) -> KafkaSource:
    pipeline = {
        "kafka": {
            "events_topic": TOPIC,
            "partition_refresh_s": 0,
            "max_poll_records": 100,
            "backoff_initial_s": 0.0,
            "backoff_period_s": 0.5,
            "backoff_max_s": 4.0,
        }
    }
    return KafkaSource(pipeline, clock=clock, consumer_factory=lambda **_: consumer)


def _offsets(runs: list) -> list[int]:
    return [handle[1] + i for handle, payloads in runs for i in range(len(payloads))]


def test_a_waiting_retry_holds_back_newer_records_of_its_partition_and_retries_keep_their_order() -> None:
    """A replay overtaken by newer events of its device would be judged late downstream. While a failed message
    waits for its retry, its partition emits nothing newer; a partition's retries go out in the order they
    failed (a first failure is not due before an earlier message's second one); retries due together go out as
    one run again."""
    consumer = StandInConsumer({0: list(range(20))}, batch=100)
    clock = ManualClock()
    source = _source(consumer, clock)
    first = source.poll_batch(5)
    assert _offsets(first) == [0, 1, 2, 3, 4]
    ((handle, _),) = first
    source.fail_run(handle)  # first failure: due at once (backoff_initial_s 0)
    again = source.poll_batch(5)
    assert _offsets(again) == [0, 1, 2, 3, 4] and len(again) == 1  # one run, before anything newer
    newer = source.poll_batch(3)
    assert _offsets(newer) == [5, 6, 7]
    source.fail_run(again[0][0])  # 0-4 fail a second time: due in 1 s (0.5 x 2)
    source.fail_run(newer[0][0])  # 5-7 fail a first time: due at once, but not before 0-4
    assert source.poll_batch(100) == []  # nothing: not the retries of 5-7, nor the fresh 8-19
    clock.advance(0.9)
    assert source.poll_batch(100) == []
    clock.advance(0.1)
    replay = source.poll_batch(100)
    assert _offsets(replay) == list(range(20))  # in source order: the retries as one run, then what is newer
    assert [(h[1], h[2]) for h, _ in replay] == [(0, 8), (8, 12)]


def test_a_retry_holds_back_only_its_own_partition() -> None:
    consumer = StandInConsumer({0: list(range(6)), 1: list(range(6))}, batch=100)
    clock = ManualClock()
    source = _source(consumer, clock)
    runs = source.poll_batch(4)
    by_partition = {h[0].partition: h for h, _ in runs}
    source.fail_run(by_partition[0])
    source.fail_run(source.poll_batch(2)[0][0])  # the retry (0-1, nothing else) fails again: due in 1 s
    later = source.poll_batch(100)
    assert later and {h[0].partition for h, _ in later} == {1}  # partition 1 goes on; partition 0 waits
    clock.advance(1.0)
    retry = source.poll_batch(100)
    assert retry and retry[0][0][0].partition == 0
    source.ack_run(retry[0][0])
    out = retry + source.poll_batch(100)
    assert [o for (h, p) in out if h[0].partition == 0 for o in range(h[1], h[1] + len(p))] == list(range(6))
