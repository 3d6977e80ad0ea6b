"""End to end on a secured Kafka (SASL_SSL, SCRAM-SHA-512) and Cassandra (PasswordAuthenticator, TLS).

`squall infra up -e secure` (here squall.infra.api with the `secure` env of config.json; a no-op when it is up)
starts both with certificates and credentials it generates into .state/secure. The run uses a copy of the
project's config.json with this run's own topics, consumer group and keyspace, its password files and CA
named by absolute path. Checks: every metric_windows row equals the independent truth, malformed events are
dead-lettered, committed offsets reach every log end; clients without (or with wrong) credentials are refused;
no password appears in any command's output; a missing password file stops `squall run` before it starts.
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import struct
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from cassandra import AuthenticationFailed
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import Cluster, NoHostAvailable
from kafka import KafkaConsumer
from kafka.errors import KafkaError

from squall.cassandra.client import cluster_security
from squall.cassandra.settings import CassandraSettings
from squall.cassandra.store import connect, read_window_rows
from squall.errors import InfraError
from squall.infra import api
from squall.infra.secure import PASSWORDS, Material
from squall.infra.services import Context
from squall.kafka import admin
from squall.kafka.client import client_config
from squall.kafka.dead_letters import decode_dead_letter
from squall.kafka.settings import KafkaSettings
from squall.kafka.simulate import read_truth
from squall.testing import isolated_pipeline_project
from tests.integration.pipeline_project import assert_windows_equal_the_truth, malformed_letters

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]
ROOT = Path(__file__).resolve().parents[2]
SQUALL = [sys.executable, "-m", "squall"]
ENV = "secure"


@pytest.fixture(scope="module")
def secure_env() -> Context:
    """The secured Kafka and Cassandra up (started once; `make test` stops them with `infra down -e secure`)."""
    ctx = api.make_context(ENV, ROOT)
    try:
        api.ensure_up(ctx=ctx)
    except InfraError as exc:
        pytest.fail(f"squall infra could not bring up the secure env:\n{exc}", pytrace=False)
    return ctx


@dataclass
class SecureProject:
    root: Path
    kafka: KafkaSettings
    cassandra: CassandraSettings
    passwords: list[str]
    outputs: list[str]

    def squall(self, *args: str, timeout_s: float, ok: bool = True) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
        done = subprocess.run(
            [*SQUALL, *args], cwd=self.root, env=env, capture_output=True, text=True, timeout=timeout_s
        )
        self.outputs.append(done.stdout + done.stderr)
        if ok:
            assert done.returncode == 0, (
                f"squall {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
            )
        return done


def _credentials(m: Material) -> dict[str, Any]:
    """The secure env's pipeline keys that name files, by absolute path (the project copy lives elsewhere)."""
    return {
        "kafka": {"password_file": str(m.password_file("kafka-squall")), "ssl_cafile": str(m.ca_cert)},
        "cassandra": {
            "password_file": str(m.password_file("cassandra-squall")),
            "ssl_cafile": str(m.ca_cert),
        },
    }


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, secure_env: Context) -> Iterator[SecureProject]:
    m = secure_env.material
    made = isolated_pipeline_project(
        tmp_path_factory.mktemp("secure") / "project",
        uuid.uuid4().hex[:10],
        prefix="sec",
        source=ROOT,
        env=ENV,
        pipeline=_credentials(m),
    )
    passwords = [
        m.password(n) for n in ("kafka-squall", "kafka-admin", "cassandra-squall", "cassandra-admin")
    ]
    made_project = SecureProject(made.root, made.kafka, made.cassandra, passwords, [])
    yield made_project
    k = made.kafka
    admin.delete_topics(k, [k.events_topic, k.dlq_topic, k.alerts_topic])
    cluster, session = connect(made.cassandra)
    try:
        session.execute(f"DROP KEYSPACE IF EXISTS {made.cassandra.keyspace}", timeout=120)
    finally:
        cluster.shutdown()


@pytest.fixture(scope="module")
def outcome(project: SecureProject) -> dict[str, Any]:
    project.squall("db", "init", "-e", ENV, timeout_s=180)
    truth_file = project.root / "truth.json"
    project.squall(
        "simulate", "-e", ENV, "--devices", "10", "--rate", "100", "--duration", "20", "--partitions", "2",
        "--bad-ratio", "0.02", "--dup-ratio", "0.03", "--late-ratio", "0.02", "--seed", "5",
        "--truth", str(truth_file), timeout_s=300,
    )  # fmt: skip
    ran = project.squall("run", "iot_pipeline", "-e", ENV, "--until-idle", "5", "--json", timeout_s=600)
    k = project.kafka
    return {
        "truth": read_truth(truth_file),
        "summary": json.loads(ran.stdout[ran.stdout.index("{") :]),
        "rows": read_window_rows(project.cassandra),
        "dead_letters": [decode_dead_letter(r.value) for r in admin.read_topic(k, k.dlq_topic)],
        "ends": admin.end_offsets(k, k.events_topic),
        "committed": admin.committed_offsets(k, k.events_topic),
    }


def test_metric_windows_equal_the_independent_truth(outcome: dict[str, Any]) -> None:
    assert_windows_equal_the_truth(outcome)


def test_malformed_events_are_dead_lettered_over_the_secured_publisher(outcome: dict[str, Any]) -> None:
    truth = outcome["truth"]
    expected, got = malformed_letters(outcome)
    assert len(expected) == truth["dead_lettered"] > 0
    assert got == expected


def test_committed_offsets_reach_the_end_of_every_partition(outcome: dict[str, Any]) -> None:
    ends = outcome["ends"]
    assert len(ends) == 2 and sum(ends.values()) == outcome["truth"]["produced"]
    assert outcome["committed"] == ends
    spout = next(c for c in outcome["summary"]["components"] if c["name"] == "events")
    assert spout["failed"] == 0 and spout["acked"] == spout["emitted"] > 0


def test_no_password_appears_in_any_output(project: SecureProject, outcome: dict[str, Any]) -> None:
    project.squall("dlq", "show", "-e", ENV, "--limit", "5", timeout_s=120)
    text = "\n".join(project.outputs)
    assert outcome["summary"]["components"] and len(project.outputs) >= 4
    for password in project.passwords:
        assert password not in text
    assert project.passwords[0] not in json.dumps(outcome["summary"])


def test_no_password_appears_in_the_services_logs(secure_env: Context, outcome: dict[str, Any]) -> None:
    m = secure_env.material
    passwords = [m.password(n) for n in PASSWORDS]
    logs = [p for name in ("kafka", "cassandra") for p in secure_env.layout.log_dir(name).rglob("*.log*")]
    assert any(p.name == "server.log" for p in logs) and any(p.name == "system.log" for p in logs)
    for path in logs:
        text = path.read_text(errors="replace")
        assert not [n for n, pw in zip(PASSWORDS, passwords, strict=True) if pw in text], path


def test_a_kafka_client_without_credentials_is_refused(project: SecureProject) -> None:
    plain = replace(
        project.kafka, security_protocol="PLAINTEXT", username="", password_file="", ssl_cafile=""
    )
    with pytest.raises(KafkaError):
        KafkaConsumer(**client_config(plain, bootstrap_timeout_ms=5000, request_timeout_ms=5000))


def test_a_kafka_client_with_a_wrong_password_is_refused(project: SecureProject, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.password"
    wrong.write_text("not-the-password\n")
    with pytest.raises(KafkaError):
        KafkaConsumer(
            **client_config(
                replace(project.kafka, password_file=str(wrong)),
                bootstrap_timeout_ms=5000,
                request_timeout_ms=5000,
            )
        )
    # the same client with the right password gets the metadata
    t0 = time.monotonic()
    consumer = KafkaConsumer(**client_config(project.kafka, bootstrap_timeout_ms=30000))
    try:
        assert project.kafka.events_topic in consumer.topics()
    finally:
        consumer.close()
    assert time.monotonic() - t0 < 60


def _api_versions_over_tls(port: int, ctx: ssl.SSLContext) -> bytes:
    """Send a Kafka ApiVersions v0 request over TLS and return the response's 4 length bytes."""
    body = struct.pack(">hhih", 18, 0, 1, 4) + b"test"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            tls.sendall(struct.pack(">i", len(body)) + body)
            return tls.recv(4)


def test_the_kafka_controller_port_wants_a_client_certificate(secure_env: Context) -> None:
    m = secure_env.material
    port = secure_env.endpoints.port("kafka_controller")
    anonymous = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    anonymous.load_verify_locations(m.ca_cert)
    with pytest.raises((ssl.SSLError, ConnectionError)):
        _api_versions_over_tls(port, anonymous)
    with_cert = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    with_cert.load_verify_locations(m.ca_cert)
    with_cert.load_cert_chain(m.server_cert, m.server_key)
    assert len(_api_versions_over_tls(port, with_cert)) == 4  # the broker's own certificate gets an answer


def _cluster(c: CassandraSettings, **security: Any) -> Cluster:
    return Cluster([*c.contact_points], port=c.port, protocol_version=5, connect_timeout=20, **security)


def test_a_cassandra_client_without_credentials_is_refused(project: SecureProject) -> None:
    c = project.cassandra
    tls_only = cluster_security(replace(c, username="", password_file=""))
    for security in (
        tls_only,  # TLS, no credentials
        {**tls_only, "auth_provider": PlainTextAuthProvider("cassandra", "cassandra")},  # default superuser
        {**tls_only, "auth_provider": PlainTextAuthProvider(c.username, "not-the-password")},
    ):
        cluster = _cluster(c, **security)
        try:
            with pytest.raises(NoHostAvailable) as info:
                cluster.connect()
        finally:
            cluster.shutdown()
        assert all(isinstance(e, AuthenticationFailed) for e in info.value.errors.values())
    cluster = _cluster(c)  # credentials but no TLS: the native port speaks TLS only
    try:
        with pytest.raises(NoHostAvailable):
            cluster.connect()
    finally:
        cluster.shutdown()


def test_squall_names_the_setting_when_cassandra_refuses_the_password(
    project: SecureProject, tmp_path: Path
) -> None:
    wrong = tmp_path / "wrong.password"
    wrong.write_text("not-the-password\n")
    with pytest.raises(InfraError, match=r"refused the credentials of role 'squall'.*password_file"):
        connect(replace(project.cassandra, password_file=str(wrong)))


def test_a_missing_password_file_stops_the_run_before_it_starts(
    project: SecureProject, tmp_path: Path
) -> None:
    config = json.loads((project.root / "config.json").read_text())
    missing = tmp_path / "absent.password"
    config["envs"][ENV]["pipeline"]["kafka"]["password_file"] = str(missing)
    other = tmp_path / "project"
    other.mkdir()
    (other / "config.json").write_text(json.dumps(config))
    for folder in ("topologies", "spouts", "bolts"):
        (other / folder).symlink_to(ROOT / folder, target_is_directory=True)
    t0 = time.monotonic()
    done = subprocess.run(
        [*SQUALL, "run", "iot_pipeline", "-e", ENV, "--until-idle", "1"],
        cwd=other,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    error = done.stderr.strip().splitlines()[-1]
    assert "pipeline.kafka.password_file" in error and str(missing) in error and "fix:" in error
    assert "events" not in done.stdout  # no summary: nothing ran
    assert time.monotonic() - t0 < 60
