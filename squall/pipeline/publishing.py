"""Publishing alerts and dead letters as messages (Kafka topics, or the embedded SQLite `published` table).

Alerts travel as JSON (key `tenant/device_id`); dead letters in the dead-letter topic's encoding
(squall.kafka.dead_letters: msgpack with the original bytes, key `topic:partition:offset`). Publishing waits
for the publisher's Futures (bounded by `pipeline.publish_timeout_s`) so a tuple is acked only once its
messages are durable; a failure raises and the tuple fails (and is replayed).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, InvalidStateError
from typing import Any

from squall.clock import Clock, SystemClock
from squall.errors import InfraError
from squall.kafka.dead_letters import dead_letter_key, encode_dead_letter
from squall.pipeline.model import Alert, DeadLetter, Publisher
from squall.pipeline.settings import PipelineSettings
from squall.pipeline.stores import make_publisher
from squall.pipeline.tuples import source_of, text_to_bytes


def _wait(futures: Sequence[Future[None]], timeout_s: float, what: str) -> None:
    for f in futures:
        try:
            f.result(timeout=timeout_s)
        except Exception as exc:
            raise InfraError(f"publishing {what} failed: {exc}") from exc


class AlertPublisher:
    def __init__(
        self, settings: PipelineSettings | Mapping[str, Any], publisher: Publisher | None = None
    ) -> None:
        typed = PipelineSettings.of(settings)
        self.topic = typed.topics.alerts
        self.timeout_s = typed.publish_timeout_s
        self.publisher = publisher or make_publisher(typed)

    def publish_alerts(self, alerts: Sequence[Alert]) -> None:
        futures = self.publish_alerts_async(alerts)
        _wait(futures, self.timeout_s, f"{len(futures)} alerts to {self.topic}")

    def publish_alerts_async(self, alerts: Sequence[Alert]) -> list[Future[None]]:
        """Send now; the Futures (one for all of them) complete when the broker acknowledged every alert (or
        fail)."""
        records = [
            (f"{a.tenant}/{a.device_id}".encode(), json.dumps(a.to_dict(), sort_keys=True).encode())
            for a in alerts
        ]
        return [publish_many(self.publisher, self.topic, records)]


class DeadLetterPublisher:
    def __init__(
        self,
        settings: PipelineSettings | Mapping[str, Any],
        publisher: Publisher | None = None,
        clock: Clock | None = None,
    ) -> None:
        typed = PipelineSettings.of(settings)
        self.topic = typed.topics.dlq
        self.timeout_s = typed.publish_timeout_s
        self.publisher = publisher or make_publisher(typed)
        self.clock = clock or SystemClock()

    def publish(self, dl: DeadLetter) -> None:
        _wait([self.publish_async(dl)], self.timeout_s, f"a dead letter to {self.topic}")

    def publish_async(self, dl: DeadLetter) -> Future[None]:
        """Send now; the Future completes when the broker acknowledged it (or fails)."""
        return self.publisher.publish(self.topic, dead_letter_key(dl), encode_dead_letter(dl))

    def publish_many_async(self, letters: Sequence[DeadLetter]) -> Future[None]:
        """Send every letter now; one Future, done when the broker acknowledged them all (or failed)."""
        records = [(dead_letter_key(dl), encode_dead_letter(dl)) for dl in letters]
        return publish_many(self.publisher, self.topic, records)


def publish_many(
    publisher: Publisher, topic: str, records: Sequence[tuple[bytes | None, bytes]]
) -> Future[None]:
    """One Future for a batch of records: the publisher's own `publish_many` when it has one, else one `publish`
    per record, gathered (done when every record is, failed with the first error)."""
    many = getattr(publisher, "publish_many", None)
    if many is not None:
        return many(topic, records)  # type: ignore[no-any-return]
    return gather([publisher.publish(topic, key, value) for key, value in records])


def gather(futures: Sequence[Future[None]]) -> Future[None]:
    """A Future done when every one of `futures` is, failed with the first exception among them."""
    done: Future[None] = Future()
    if not futures:
        done.set_result(None)
        return done
    finished = itertools.count(1).__next__  # atomic under the GIL: the futures may finish on other threads
    last = len(futures)

    def one(f: Future[None]) -> None:
        exc = f.exception()
        if exc is not None:
            settle_once(done, exc)
        elif finished() == last:
            settle_once(done, None)

    for f in futures:
        f.add_done_callback(one)
    return done


def settle_once(done: Future[None], exc: BaseException | None) -> None:
    """Complete `done` unless it is already: the first error or the success wins (callbacks may race on other
    threads)."""
    try:
        if exc is None:
            done.set_result(None)
        else:
            done.set_exception(exc)
    except InvalidStateError:
        pass


def dead_letter_from_invalid(values: Sequence[Any], now_ms: int) -> DeadLetter:
    """From parse's `invalid` stream: reason, detail, payload (latin-1 text), source."""
    reason, detail, payload, source = values
    topic, partition, offset = source_of(source)
    return DeadLetter(
        reason=str(reason),
        detail=str(detail),
        payload=text_to_bytes(payload),
        source_topic=topic,
        source_partition=partition,
        source_offset=offset,
        ts=now_ms,
    )


def dead_letter_from_late(values: Sequence[Any], now_ms: int) -> DeadLetter:
    """From aggregate's `late` stream; the payload is the normalised event as JSON (the original bytes stay in
    the raw `events` table, written by the archive stream)."""
    _tenant, _device, event, source, watermark = values
    topic, partition, offset = source_of(source)
    return DeadLetter(
        reason="late",
        detail=f"event time {event['ts']} < watermark {watermark} of {event['tenant']}/{event['device_id']}",
        payload=json.dumps(event, sort_keys=True, separators=(",", ":")).encode(),
        source_topic=topic,
        source_partition=partition,
        source_offset=offset,
        ts=now_ms,
    )
