"""Publisher on a real Kafka: kafka-python's KafkaProducer behind the pipeline's Publisher contract."""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError

from squall.kafka.client import client_config, unreachable
from squall.kafka.settings import KafkaSettings


class KafkaPublisher:
    """`publish` returns a Future that completes when the broker acknowledged the record (acks=all)."""

    def __init__(self, settings: Any, **producer_overrides: Any) -> None:
        self.settings = KafkaSettings.from_pipeline(settings)
        config = client_config(
            self.settings,
            acks="all",
            linger_ms=self.settings.linger_ms,
            client_id="squall-publisher",
            **producer_overrides,
        )
        try:
            self._producer = KafkaProducer(**config)
        except KafkaError as exc:
            raise unreachable(self.settings, exc) from exc

    def publish(self, topic: str, key: bytes | None, value: bytes) -> Future[None]:
        done: Future[None] = Future()
        try:
            sent = self._producer.send(topic, key=key, value=value)
        except KafkaError as exc:
            done.set_exception(exc)
            return done
        sent.add_callback(lambda _meta: done.set_result(None))
        sent.add_errback(lambda exc: done.set_exception(exc))
        return done

    def flush(self, timeout_s: float | None = None) -> None:
        self._producer.flush(timeout=timeout_s)

    def close(self, timeout_s: float = 30.0) -> None:
        self._producer.close(timeout=timeout_s)
