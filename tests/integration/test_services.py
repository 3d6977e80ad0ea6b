"""The real services `squall infra up` starts answer their real protocols (no mocks anywhere here)."""

from __future__ import annotations

import json
import urllib.request
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest
from cassandra.cluster import Cluster
from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from squall.infra import api, health, process, storm
from squall.infra.endpoints import DEFAULT_PORTS, DEFAULT_SLOTS
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


@pytest.mark.storm
@pytest.mark.timeout(900)
def test_down_stops_worker_jvms_and_their_python_subprocesses(tmp_path: Path) -> None:
    """An isolated ZooKeeper+Nimbus+Supervisor (ports +20000, own state folder) runs a real topology; `down`
    must leave no worker JVM, no multilang Python process and no open port behind."""
    from squall.storm.harness import SparseProject, wait_until
    from squall.storm.nimbus import client as nimbus_client
    from squall.storm.nimbus import topology_id

    repo = Path(__file__).resolve().parents[2]
    fixture = repo / "tests" / "fixtures" / "storm_project"
    root = tmp_path / "isolated"
    root.mkdir()
    shifted = {name: f"127.0.0.1:{port + 20000}" for name, port in DEFAULT_PORTS.items()}
    slots = [p + 20000 for p in DEFAULT_SLOTS]
    (root / "config.json").write_text(
        json.dumps({"envs": {"dev": {"services": {**shifted, "supervisor_slots": slots}}}})
    )
    (root / "infra").symlink_to(repo / "infra", target_is_directory=True)
    ctx = api.make_context("dev", root)

    conf = json.loads((fixture / "config.json").read_text())
    conf["envs"]["dev"]["nimbus"] = shifted["nimbus"]
    conf["envs"]["dev"]["virtualenv_root"] = str(repo)
    sparse_config = tmp_path / "sparse-config.json"
    sparse_config.write_text(json.dumps(conf))

    running: set[int] = set()
    try:
        api.ensure_up(["supervisor"], ctx=ctx)
        project = SparseProject(fixture, nimbus_address=shifted["nimbus"])
        project.sparse(
            *project.submit_args(
                "passthrough",
                "dev",
                "squall_infra_down",
                {"squall.test.out": str(tmp_path / "sink"), "squall.test.count": 1000000},
                sparse_config,
            )
        )
        assert topology_id(nimbus_client(shifted["nimbus"]), "squall_infra_down") is not None

        def worker_family() -> set[int]:
            return storm.worker_pids(ctx)

        wait_until(
            lambda: any(b"streamparse_run" in _cmdline(p) for p in worker_family()),
            timeout=300,
            what="a worker JVM with Python subprocesses is running",
        )
        running = worker_family()
        assert any(b"org.apache.storm.daemon.worker" in _cmdline(p) for p in running)
    finally:
        api.down(ctx=ctx, grace=20)
    survivors = {p for p in running if process.proc_info(p) is not None and process.proc_info(p).state != "Z"}
    assert survivors == set()
    ports = [*ctx.endpoints.ports.values(), *ctx.endpoints.slots]
    assert [p for p in ports if health.port_open("127.0.0.1", p, timeout=0.5)] == []


def _cmdline(pid: int) -> bytes:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes()
    except OSError:
        return b""
