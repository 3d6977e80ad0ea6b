"""The real services `squall infra up` starts answer their real protocols (no mocks anywhere here)."""

from __future__ import annotations

import json
import urllib.request
import uuid
from collections.abc import Callable, Iterable

import pytest
from cassandra.cluster import Cluster
from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from squall.infra import api, health
from squall.infra.storm import cluster_info

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

EnsureUp = Callable[[Iterable[str]], dict[str, str]]


def _split(address: str) -> tuple[str, int]:
    host, port = address.rsplit(":", 1)
    return host, int(port)


def test_zookeeper_answers_ruok_and_serves(infra_up: EnsureUp) -> None:
    host, port = _split(infra_up(["zookeeper"])["zookeeper"])
    assert health.zookeeper_four_letter(host, port, "ruok") == "imok"
    srvr = health.zookeeper_four_letter(host, port, "srvr")
    assert "Mode: standalone" in srvr, srvr


def test_kafka_topic_produce_and_consume(kafka_bootstrap: str) -> None:
    topic = f"infra-test-{uuid.uuid4().hex[:10]}"
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap, request_timeout_ms=15000)
    try:
        admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
        producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", request_timeout_ms=15000)
        sent = [f"event-{i}".encode() for i in range(20)]
        for i, value in enumerate(sent):
            producer.send(topic, key=str(i % 4).encode(), value=value)
        producer.flush(timeout=30)
        producer.close(timeout=10)

        consumer = KafkaConsumer(
            topic,
            bootstrap_servers=kafka_bootstrap,
            auto_offset_reset="earliest",
            group_id=f"g-{topic}",
            consumer_timeout_ms=20000,
        )
        got: list[bytes] = []
        for record in consumer:
            got.append(record.value)
            if len(got) == len(sent):
                break
        consumer.close()
        assert sorted(got) == sorted(sent)
    finally:
        admin.delete_topics([topic])
        admin.close()


def test_cassandra_keyspace_table_write_read(cassandra_address: str) -> None:
    host, port = _split(cassandra_address)
    keyspace = f"infra_test_{uuid.uuid4().hex[:8]}"
    cluster = Cluster([host], port=port, connect_timeout=20, protocol_version=5)
    try:
        session = cluster.connect()
        session.execute(
            f"CREATE KEYSPACE {keyspace} WITH replication = {{'class': 'SimpleStrategy', 'replication_factor': 1}}",
            timeout=60,
        )
        session.execute(
            f"CREATE TABLE {keyspace}.readings (device text, ts int, value double, PRIMARY KEY (device, ts))",
            timeout=60,
        )
        insert = session.prepare(f"INSERT INTO {keyspace}.readings (device, ts, value) VALUES (?, ?, ?)")
        for ts in range(5):
            session.execute(insert, ("dev-1", ts, ts * 1.5))
        rows = list(
            session.execute(f"SELECT ts, value FROM {keyspace}.readings WHERE device = %s", ("dev-1",))
        )
        assert [(r.ts, r.value) for r in rows] == [(ts, ts * 1.5) for ts in range(5)]
        version = session.execute("SELECT release_version FROM system.local").one().release_version
        assert version.startswith("5.0")
        session.execute(f"DROP KEYSPACE {keyspace}", timeout=60)
    finally:
        cluster.shutdown()


@pytest.mark.storm
def test_nimbus_thrift_reports_one_supervisor_with_two_slots(infra_endpoints: dict[str, str]) -> None:
    host, port = _split(infra_endpoints["nimbus"])
    info = cluster_info(host, port)
    leaders = [n for n in info.nimbuses if n.isLeader]
    assert len(leaders) == 1 and leaders[0].version.startswith("2.8")
    sups = [s for s in info.supervisors if s.host == host]
    assert len(sups) == 1, info.supervisors
    assert sups[0].num_workers == 2
    assert 0 <= sups[0].num_used_workers <= 2


@pytest.mark.storm
def test_storm_ui_rest_api_answers(infra_endpoints: dict[str, str]) -> None:
    base = f"http://{infra_endpoints['storm_ui']}/api/v1"
    with urllib.request.urlopen(f"{base}/cluster/summary", timeout=10) as resp:
        summary = json.loads(resp.read())
    assert summary["stormVersion"].startswith("2.8")
    assert summary["supervisors"] == 1
    assert summary["slotsTotal"] == 2
    with urllib.request.urlopen(f"{base}/supervisor/summary", timeout=10) as resp:
        sups = json.loads(resp.read())["supervisors"]
    assert [s["slotsTotal"] for s in sups] == [2]


@pytest.mark.storm
def test_status_reports_every_service_healthy(infra_endpoints: dict[str, str]) -> None:
    rows = {row.name: row for row in api.status()}
    assert set(rows) == {"zookeeper", "kafka", "cassandra", "nimbus", "supervisor", "ui"}
    unhealthy = {name: row.detail for name, row in rows.items() if not row.healthy}
    assert not unhealthy
    assert api.endpoints()["kafka"] == infra_endpoints["kafka"]


@pytest.mark.storm
def test_ensure_up_is_idempotent(infra_endpoints: dict[str, str]) -> None:
    results = api.ensure_up()
    assert {r.action for r in results} <= {"already up", "external"}
    assert [r.name for r in results] == ["zookeeper", "kafka", "cassandra", "nimbus", "supervisor", "ui"]
