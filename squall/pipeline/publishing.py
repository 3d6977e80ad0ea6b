"""Publishing alerts and dead letters as messages (Kafka topics, or the embedded SQLite `published` table).

Alerts travel as JSON (key `tenant/device_id`); dead letters in the dead-letter topic's encoding
(squall.kafka.dead_letters: msgpack with the original bytes, key `topic:partition:offset`). Publishing waits
for the publisher's Futures (bounded by `pipeline.publish_timeout_s`) so a tuple is acked only once its
messages are durable; a failure raises and the tuple fails (and is replayed).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
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
        """Send now; each Future completes when the broker acknowledged that alert (or fails)."""
        return [
            self.publisher.publish(
                self.topic,
                f"{a.tenant}/{a.device_id}".encode(),
                json.dumps(a.to_dict(), sort_keys=True).encode(),
            )
            for a in alerts
        ]


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
