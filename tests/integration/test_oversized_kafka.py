"""A 10 MB message in Kafka among normal traffic: dead-lettered as `too_large` by its prefix, size and SHA-256
(enough to fetch and check the original at its coordinates), while every normal event around it is stored.
What it costs is measured by bench/oversized.py, not here."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic

from squall.cassandra.store import connect
from squall.kafka import admin
from squall.kafka.dead_letters import decode_dead_letter
from tests.integration.pipeline_project import E2EProject, make_project

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]
T0 = 1_767_225_600_000
BIG = 10 * 1024 * 1024


@pytest.fixture
def project(tmp_path: Path, kafka_bootstrap: str, cassandra_address: str) -> Iterator[E2EProject]:
    made = make_project(tmp_path / "project", uuid.uuid4().hex[:10], kafka_bootstrap, cassandra_address)
    yield made
    made.drop()


def test_a_10_mb_message_is_dead_lettered_by_prefix_size_and_digest_and_the_stream_goes_on(
    project: E2EProject,
) -> None:
    k = project.kafka
    client = KafkaAdminClient(bootstrap_servers=k.servers)
    try:  # a topic that takes messages this large (the broker's default stops at 1 MB)
        client.create_topics(
            [NewTopic(k.events_topic, 2, 1, topic_configs={"max.message.bytes": str(2 * BIG)})]
        )
    finally:
        client.close()
    big = b'{"tenant":"acme","device_id":"d","attrs":"' + bytes(range(128, 256)) * (BIG // 128) + b'"}'
    producer = KafkaProducer(bootstrap_servers=k.servers, max_request_size=2 * BIG, acks="all")
    try:
        for i in range(400):
            event = {
                "tenant": "acme",
                "device_id": f"d{i % 4}",
                "event_id": f"e{i}",
                "ts": T0 + i * 100,
                "type": "telemetry",
                "metrics": {"temperature": 20.0 + i % 7},
            }
            producer.send(k.events_topic, key=f"acme/d{i % 4}".encode(), value=json.dumps(event).encode())
            if i == 200:
                big_meta = producer.send(k.events_topic, key=b"acme/d0", value=big).get(timeout=60)
        producer.flush(60)
    finally:
        producer.close()
    project.squall("db", "init", "-e", "dev", timeout_s=180)
    ran = project.squall("run", "iot_pipeline", "-e", "dev", "--until-idle", "5", "--json", timeout_s=600)
    summary = json.loads(ran.stdout[ran.stdout.index("{") :])
    assert summary["stopped_because"] == "idle" and summary["errors"] == []
    letters = [decode_dead_letter(r.value) for r in admin.read_topic(k, k.dlq_topic)]
    [letter] = [d for d in letters if d.reason == "too_large"]
    assert (letter.source_partition, letter.source_offset) == (big_meta.partition, big_meta.offset)
    assert letter.payload == big[:4096]
    assert (
        f"{len(big)} bytes" in letter.detail and f"sha256={hashlib.sha256(big).hexdigest()}" in letter.detail
    )
    assert all(len(d.payload) <= 4096 for d in letters)
    cluster, session = connect(project.cassandra, project.cassandra.keyspace)
    try:
        assert session.execute("SELECT count(*) FROM events").one()[0] == 400
    finally:
        cluster.shutdown()
