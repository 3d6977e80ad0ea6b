"""`squall dlq show` on the real dead-letter topic and Cassandra table (listing, --by-reason, --json), and
`squall infra status --json`, against the shared services. Topics and keyspace are unique per run."""

from __future__ import annotations

import base64
import json
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from kafka import KafkaProducer

from squall.cassandra.schema import apply_schema
from squall.cassandra.store import CassandraStore, connect
from squall.cli.main import cli
from squall.infra import api
from squall.kafka import admin
from squall.kafka.client import client_config
from squall.kafka.dead_letters import dead_letter_key, encode_dead_letter
from squall.pipeline.model import Alert, DeadLetter, WindowResult
from squall.testing import IsolatedProject, isolated_pipeline_project

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
ROOT = Path(__file__).resolve().parents[2]
WAIT_S = 30.0
REASONS = ["invalid_json"] * 3 + ["late"] * 2 + ["processing_error:aggregate:ZeroDivisionError"]


T0 = 1_767_225_600_000
WINDOWS = [
    WindowResult("acme", f"d{i}", metric, length, T0, T0 + length * 1000, count, 1.0, 0.0, 1.0, 0.5, 0.5, 1.0)
    for i, count in enumerate([4, 9, 2, 7])
    for metric in ("temperature", "humidity")
    for length in (10, 60)
]
ALERTS = [
    Alert("acme", "d0", f"a{i}", T0 + i, "temperature", kind, 50.0, "hot")
    for i, kind in enumerate(["threshold", "anomaly", "threshold"])
]


def letters(topic: str) -> list[DeadLetter]:
    out = []
    for offset, reason in enumerate(REASONS):
        payload = (f'{{"offset": {offset}, "pad": "' + "x" * 300 + '"}').encode() + bytes([0, 255])
        out.append(
            DeadLetter(reason, f"detail {offset}", payload, topic, offset % 2, offset, 1_767_225_600_000)
        )
    return out


@pytest.fixture(scope="module")
def project(
    tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str, cassandra_address: str
) -> Iterator[IsolatedProject]:
    run = uuid.uuid4().hex[:8]
    host, _, port = cassandra_address.rpartition(":")
    made = isolated_pipeline_project(
        tmp_path_factory.mktemp("dlq") / "project",
        run,
        prefix="it.dlqcmd",
        source=ROOT,
        env="dev",
        pipeline={
            "kafka": {"bootstrap_servers": kafka_bootstrap},
            "cassandra": {"contact_points": [host], "port": int(port), "consistency": "LOCAL_ONE"},
        },
    )
    kafka = made.kafka
    admin.ensure_topics(kafka, [kafka.dlq_topic], partitions=1)
    producer = KafkaProducer(**client_config(kafka, acks="all"))
    futures = [
        producer.send(kafka.dlq_topic, key=dead_letter_key(dl), value=encode_dead_letter(dl))
        for dl in letters(kafka.events_topic)
    ]
    futures.append(producer.send(kafka.dlq_topic, key=b"x", value=b"not a dead letter"))
    for fut in futures:
        fut.get(timeout=WAIT_S)
    producer.close(timeout=WAIT_S)
    cluster, session = connect(made.cassandra)
    try:
        apply_schema(session, made.cassandra)
        store = CassandraStore(made.pipeline)
        try:
            writes = store.write_many("dead_letter", letters(kafka.events_topic))
            writes += store.write_many("window", WINDOWS)
            writes += store.write_many("alert", ALERTS)
            for fut in writes:
                fut.result(timeout=WAIT_S)
        finally:
            store.close()
        yield made
    finally:
        admin.delete_topics(kafka, [kafka.dlq_topic])
        try:
            session.execute(f"DROP KEYSPACE IF EXISTS {made.cassandra.keyspace}", timeout=120)
        finally:
            cluster.shutdown()


def invoke(project: IsolatedProject, monkeypatch: pytest.MonkeyPatch, *args: str) -> Any:
    monkeypatch.chdir(project.root)
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result


def test_dlq_show_kafka_counts_and_lists_every_letter(
    project: IsolatedProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    # dev publishes to Kafka, so the topic is where `dlq show` looks by default
    doc = json.loads(invoke(project, monkeypatch, "dlq", "show", "-e", "dev", "--by-reason", "--json").output)
    assert doc == {
        "source": "kafka",
        "total": len(REASONS),
        "skipped_undecodable": 1,
        "by_reason": {"invalid_json": 3, "late": 2, "processing_error:aggregate:ZeroDivisionError": 1},
    }
    listed = json.loads(invoke(project, monkeypatch, "dlq", "show", "-e", "dev", "--json").output)
    sent = {dl.source_offset: dl for dl in letters(project.kafka.events_topic)}
    assert listed["count"] == len(sent) and listed["skipped_undecodable"] == 1
    for d in listed["dead_letters"]:
        dl = sent[d["source_offset"]]
        assert (d["reason"], d["source_partition"], base64.b64decode(d["payload_base64"])) == (
            dl.reason,
            dl.source_partition,
            dl.payload,
        )
    table = invoke(project, monkeypatch, "dlq", "show", "-e", "dev", "--limit", "3").output
    assert "3 dead letter(s) shown from kafka" in table


def test_dlq_show_cassandra_counts_and_lists_every_letter(
    project: IsolatedProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = ("dlq", "show", "-e", "dev", "--source", "cassandra")
    doc = json.loads(invoke(project, monkeypatch, *args, "--by-reason", "--json").output)
    assert doc["source"] == "cassandra"
    assert doc["by_reason"] == dict(Counter(REASONS))
    assert list(doc["by_reason"]) == ["invalid_json", "late", "processing_error:aggregate:ZeroDivisionError"]
    listed = json.loads(invoke(project, monkeypatch, *args, "--json").output)
    assert sorted(d["source_offset"] for d in listed["dead_letters"]) == list(range(len(REASONS)))
    assert all(
        d["payload_size"] == len(base64.b64decode(d["payload_base64"])) for d in listed["dead_letters"]
    )
    text = invoke(project, monkeypatch, *args, "--by-reason").output
    assert f"{len(REASONS)} dead letter(s) in cassandra" in text


def test_infra_status_json(kafka_bootstrap: str, cassandra_address: str) -> None:
    result = CliRunner().invoke(cli, ["infra", "status", "kafka", "cassandra", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["env"] == api.DEFAULT_ENV
    assert [s["name"] for s in doc["services"]] == ["kafka", "cassandra"]
    for service, address in zip(doc["services"], (kafka_bootstrap, cassandra_address), strict=True):
        assert set(service) == {"name", "address", "pid", "running", "healthy", "detail"}
        assert service["healthy"] is True
        assert service["address"] == address


def test_report_on_the_cassandra_sink_counts_what_was_written(
    project: IsolatedProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = json.loads(invoke(project, monkeypatch, "report", "-e", "dev", "--json").output)
    assert doc["store"] == "cassandra" and doc["keyspace"] == project.cassandra.keyspace
    assert doc["rows"] == {
        "metric_windows": len(WINDOWS),
        "events": 0,
        "alerts": len(ALERTS),
        "dead_letters": len(REASONS),
    }
    assert doc["dead_letters_by_reason"] == {
        "invalid_json": 3,
        "late": 2,
        "processing_error:aggregate:ZeroDivisionError": 1,
    }
    assert doc["alerts_by_kind"] == {"threshold": 2, "anomaly": 1}
    assert doc["temperature_windows"] == {
        "10": {"windows": 4, "events": 22},
        "60": {"windows": 4, "events": 22},
    }
    # the most readings first, then the shorter window: d1 (9) 10 s, d1 60 s, d3 (7) 10 s
    assert [(w["device_id"], w["window_s"], w["count"]) for w in doc["example_windows"]] == [
        ("d1", 10, 9),
        ("d1", 60, 9),
        ("d3", 10, 7),
    ]
    assert doc["example_windows"][0]["window_start"] == T0
    text = invoke(project, monkeypatch, "report", "-e", "dev").output
    assert f"Stored in Cassandra: keyspace {project.cassandra.keyspace}" in text
    assert "dead_letters=6" in text and "acme/d1 10s" in text
