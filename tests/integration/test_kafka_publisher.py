"""KafkaPublisher against the real broker started by `squall infra up`: a batch of records under one Future
(what the alerts and dead-letter bolts publish per tuple), acknowledged only once the broker has every record,
and failed when a record cannot be sent."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from kafka import KafkaConsumer
from kafka.errors import KafkaError

from squall.kafka import admin
from squall.kafka.client import client_config
from squall.kafka.publisher import KafkaPublisher
from squall.kafka.settings import KafkaSettings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]
WAIT_S = 30.0


@pytest.fixture
def topic_settings(kafka_bootstrap: str) -> Iterator[tuple[KafkaSettings, str]]:
    topic = f"t.pub.{uuid.uuid4().hex[:10]}"
    settings = KafkaSettings.from_section({"bootstrap_servers": kafka_bootstrap})
    admin.ensure_topics(settings, [topic], partitions=3)
    yield settings, topic
    admin.delete_topics(settings, [topic])


def read_all(settings: KafkaSettings, topic: str, count: int) -> list[tuple[bytes | None, bytes, int]]:
    consumer = KafkaConsumer(
        topic, **client_config(settings, auto_offset_reset="earliest", consumer_timeout_ms=10_000)
    )
    try:
        got = []
        for record in consumer:
            got.append((record.key, record.value, record.partition))
            if len(got) == count:
                break
        return got
    finally:
        consumer.close()


def test_a_batch_is_acknowledged_once_every_record_is_on_the_broker(
    topic_settings: tuple[KafkaSettings, str],
) -> None:
    settings, topic = topic_settings
    publisher = KafkaPublisher(settings)
    try:
        records = [(f"acme/d{i % 7}".encode(), f"v{i}".encode()) for i in range(500)]
        publisher.publish_many(topic, records).result(timeout=WAIT_S)
        got = read_all(settings, topic, len(records))
    finally:
        publisher.close()
    assert sorted((k, v) for k, v, _ in got) == sorted(records)
    # keyed as the Java client (murmur2): one key, one partition, and the records of a key in their order
    partitions: dict[bytes | None, set[int]] = {}
    for key, _value, partition in got:
        partitions.setdefault(key, set()).add(partition)
    assert all(len(p) == 1 for p in partitions.values())
    for key in partitions:
        assert [v for k, v, _ in got if k == key] == [v for k, v in records if k == key]


def test_a_record_the_producer_refuses_fails_the_batch(topic_settings: tuple[KafkaSettings, str]) -> None:
    settings, topic = topic_settings
    publisher = KafkaPublisher(settings)
    try:
        too_large = b"x" * (2 * 1024 * 1024)  # above the producer's max_request_size (1 MiB)
        done = publisher.publish_many(topic, [(b"k", b"fine"), (b"k", too_large), (b"k", b"after")])
        with pytest.raises(KafkaError):
            done.result(timeout=WAIT_S)
        assert publisher.publish_many(topic, []).result(timeout=0) is None
    finally:
        publisher.close()
