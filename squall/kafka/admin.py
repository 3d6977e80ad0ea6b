"""Topic and offset housekeeping on a real Kafka: create topics, read end and committed offsets, read a topic.

Used by `squall simulate`, `squall dlq show`, the integration tests and the benchmark. Every call is bounded
by the settings' request timeout.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer
from kafka.errors import KafkaError, TopicAlreadyExistsError
from kafka.structs import TopicPartition

from squall.kafka.client import client_config, unreachable
from squall.kafka.settings import KafkaSettings


@contextmanager
def admin_client(settings: KafkaSettings) -> Iterator[Any]:
    try:
        client = KafkaAdminClient(**client_config(settings, client_id="squall-admin"))
    except KafkaError as exc:
        raise unreachable(settings, exc) from exc
    try:
        yield client
    finally:
        client.close()


def ensure_topics(settings: KafkaSettings, topics: Iterable[str], partitions: int | None = None) -> list[str]:
    """Create the topics that do not exist yet (replication factor 1); return the ones created."""
    count = partitions or settings.partitions
    with admin_client(settings) as admin:
        existing = set(admin.list_topics())
        missing = [t for t in dict.fromkeys(topics) if t not in existing]
        if not missing:
            return []
        spec = {t: {"num_partitions": count, "replication_factor": 1} for t in missing}
        try:
            admin.create_topics(
                spec, timeout_ms=int(settings.request_timeout_s * 1000), wait_for_metadata=True
            )
        except TopicAlreadyExistsError:
            pass  # created concurrently: fine
    return missing


def add_partitions(settings: KafkaSettings, topic: str, total: int) -> None:
    with admin_client(settings) as admin:
        admin.create_partitions({topic: total}, timeout_ms=int(settings.request_timeout_s * 1000))


def delete_topics(settings: KafkaSettings, topics: Iterable[str]) -> None:
    with admin_client(settings) as admin:
        admin.delete_topics(
            list(topics), timeout_ms=int(settings.request_timeout_s * 1000), raise_errors=False
        )


@contextmanager
def plain_consumer(settings: KafkaSettings, group_id: str | None = None) -> Iterator[Any]:
    try:
        consumer = KafkaConsumer(
            **client_config(settings, group_id=group_id, enable_auto_commit=False, client_id="squall-reader")
        )
    except KafkaError as exc:
        raise unreachable(settings, exc) from exc
    try:
        yield consumer
    finally:
        consumer.close(autocommit=False)


def partitions_of(consumer: Any, topic: str) -> list[TopicPartition]:
    return [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]


def end_offsets(settings: KafkaSettings, topic: str) -> dict[int, int]:
    """Partition -> the offset the next produced record gets (the log end)."""
    with plain_consumer(settings) as consumer:
        tps = partitions_of(consumer, topic)
        ends = consumer.end_offsets(tps, timeout_ms=int(settings.request_timeout_s * 1000)) if tps else {}
        return {tp.partition: int(off) for tp, off in ends.items()}


def committed_offsets(
    settings: KafkaSettings, topic: str, group_id: str | None = None
) -> dict[int, int | None]:
    """Partition -> the group's committed offset (None when nothing was committed)."""
    group = group_id or settings.group_id
    with plain_consumer(settings, group_id=group) as consumer:
        timeout_ms = int(settings.request_timeout_s * 1000)
        return {
            tp.partition: consumer.committed(tp, timeout_ms=timeout_ms)
            for tp in partitions_of(consumer, topic)
        }


def read_topic(
    settings: KafkaSettings, topic: str, limit: int | None = None, idle_ms: int = 2000
) -> list[Any]:
    """Every record of `topic` from the beginning (at most `limit`), stopping at the log end or after `idle_ms`."""
    with plain_consumer(settings) as consumer:
        tps = partitions_of(consumer, topic)
        if not tps:
            return []
        timeout_ms = int(settings.request_timeout_s * 1000)
        ends = consumer.end_offsets(tps, timeout_ms=timeout_ms)
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        out: list[Any] = []
        remaining = {tp for tp in tps if ends.get(tp, 0) > 0}
        while remaining and (limit is None or len(out) < limit):
            batches = consumer.poll(timeout_ms=idle_ms)
            if not batches:
                break
            for tp, records in batches.items():
                for r in records:
                    if r.offset < ends[tp]:
                        out.append(r)
                if consumer.position(tp, timeout_ms=timeout_ms) >= ends[tp]:
                    remaining.discard(tp)
                    consumer.pause(tp)
        out.sort(key=lambda r: (r.partition, r.offset))
        return out if limit is None else out[:limit]
