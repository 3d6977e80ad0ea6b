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
