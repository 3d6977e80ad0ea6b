"""Consumer lag on the real broker: `squall lag` (text and --json) against offsets produced and committed here,
its one-line error for a group that committed nothing, and the spout's `kafka_lag` metric."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from kafka import KafkaConsumer, KafkaProducer
from kafka.structs import OffsetAndMetadata, TopicPartition

from spouts.events import EventSpout
from squall.cli.main import cli
from squall.kafka import admin
from squall.kafka.client import client_config
from squall.kafka.lag import group_lag
from squall.kafka.settings import KafkaSettings
from squall.pipeline.tuples import unpack_batch
from squall.testing import SpoutHarness

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]
WAIT_S = 30.0
PRODUCED = {0: 7, 1: 5, 2: 3}


@pytest.fixture
def settings(kafka_bootstrap: str) -> Iterator[KafkaSettings]:
    run = uuid.uuid4().hex[:10]
    s = replace(
        KafkaSettings.from_section({"bootstrap_servers": kafka_bootstrap}),
        events_topic=f"t.lag.{run}",
        dlq_topic=f"t.lag.dlq.{run}",
        alerts_topic=f"t.lag.alerts.{run}",
        group_id=f"g.lag.{run}",
        commit_interval_s=0.2,
        poll_timeout_ms=200,
    )
    admin.ensure_topics(s, [s.events_topic], partitions=3)
    admin.ensure_topics(s, [s.dlq_topic, s.alerts_topic], partitions=1)
    yield s
    admin.delete_topics(s, [s.events_topic, s.dlq_topic, s.alerts_topic])


def produce(s: KafkaSettings, per_partition: dict[int, int]) -> None:
    producer = KafkaProducer(**client_config(s, acks="all"))
    futures = [
        producer.send(s.events_topic, value=f"m-{p}-{i}".encode(), partition=p)
        for p, n in per_partition.items()
        for i in range(n)
    ]
    for fut in futures:
        fut.get(timeout=WAIT_S)
    producer.close(timeout=WAIT_S)


def commit(s: KafkaSettings, offsets: dict[int, int]) -> None:
    """Commit `offsets` for the settings' group, as the spout does (manual assignment, no group membership)."""
    consumer = KafkaConsumer(**client_config(s, group_id=s.group_id, enable_auto_commit=False))
    try:
        consumer.commit(
            offsets={
                TopicPartition(s.events_topic, p): OffsetAndMetadata(o, "", -1) for p, o in offsets.items()
            }
        )
    finally:
        consumer.close(autocommit=False)


def project(tmp_path: Path, s: KafkaSettings) -> Path:
    """A project folder whose config.json points `squall lag` at this test's broker and group."""
    config = {
        "topology_specs": "topologies/",
        "virtualenv_specs": "virtualenvs/",
        "pipeline": {
            "source": "kafka",
            "sink": "sqlite",
            "kafka": {
                "bootstrap_servers": s.bootstrap_servers,
                "events_topic": s.events_topic,
                "dlq_topic": s.dlq_topic,
                "alerts_topic": s.alerts_topic,
                "group_id": s.group_id,
            },
        },
        "envs": {"it": {"pipeline": {}}},
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "topologies").mkdir()
    return tmp_path


def test_group_lag_is_end_minus_committed_per_partition(settings: KafkaSettings) -> None:
    produce(settings, PRODUCED)
    commit(settings, {0: 4, 1: 5})  # partition 2: nothing committed yet
    rows = {(r.topic, r.partition): r for r in group_lag(settings)}
    t = settings.events_topic
    assert {k: (r.committed, r.end, r.lag) for k, r in rows.items()} == {
        (t, 0): (4, 7, 3),
        (t, 1): (5, 5, 0),
        (t, 2): (None, 3, 3),  # counted from the log start, where the spout starts it
    }


def test_squall_lag_prints_the_table_and_json(
    settings: KafkaSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    produce(settings, PRODUCED)
    commit(settings, {0: 2, 1: 1, 2: 3})
    monkeypatch.chdir(project(tmp_path, settings))
    runner = CliRunner()
    out = runner.invoke(cli, ["lag", "-e", "it", "--json"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.output)
    assert doc == {
        "group": settings.group_id,
        "partitions": [
            {"topic": settings.events_topic, "partition": 0, "committed": 2, "end": 7, "lag": 5},
            {"topic": settings.events_topic, "partition": 1, "committed": 1, "end": 5, "lag": 4},
            {"topic": settings.events_topic, "partition": 2, "committed": 3, "end": 3, "lag": 0},
        ],
        "total_lag": 9,
    }
    text = runner.invoke(cli, ["lag", "-e", "it"])
    assert text.exit_code == 0, text.output
    assert f"group {settings.group_id}" in text.output
    assert "total lag 9" in text.output


def test_squall_lag_of_a_group_that_committed_nothing_is_a_one_line_error(
    settings: KafkaSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    produce(settings, {0: 1})
    monkeypatch.chdir(project(tmp_path, settings))
    out = CliRunner().invoke(cli, ["lag", "-e", "it", "--group", f"{settings.group_id}.none"])
    assert out.exit_code == 2
    lines = out.output.strip().splitlines()
    assert len(lines) == 1, out.output
    assert lines[0].startswith(
        f"error: --group: '{settings.group_id}.none' is no consumer group with committed"
    )
    assert "fix:" in lines[0]


def spout_conf(tmp_path: Path, s: KafkaSettings) -> dict[str, Any]:
    kafka = {
        "bootstrap_servers": s.bootstrap_servers,
        "events_topic": s.events_topic,
        "dlq_topic": s.dlq_topic,
        "alerts_topic": s.alerts_topic,
        "group_id": s.group_id,
        "commit_interval_s": 0.2,
        "poll_timeout_ms": 200,
        "partitions": 3,
    }
    pipeline = {
        "source": "kafka",
        "sink": "sqlite",
        "sqlite": {"path": str(tmp_path / "s.db")},
        "kafka": kafka,
        "peak_events_per_s": 10,
        "spout": {"batch_size": 100},
    }
    return {
        "squall.pipeline": pipeline,
        "topology.message.timeout.secs": 60,
        "topology.max.spout.pending": 1000,
        "topology.builtin.metrics.bucket.size.secs": 1,
    }


def test_the_spout_reports_its_lag_as_the_kafka_lag_metric(settings: KafkaSettings, tmp_path: Path) -> None:
    produce(settings, PRODUCED)
    started = time.monotonic()
    spout = SpoutHarness(EventSpout, spout_conf(tmp_path, settings), component="events")
    try:
        # Emit everything; ack only the tuples of partition 0, so 0 commits to its end and 1 and 2 keep their lag.
        deadline = time.monotonic() + WAIT_S
        emitted: dict[int, int] = {}
        while sum(emitted.values()) < sum(PRODUCED.values()) and time.monotonic() < deadline:
            for emit in spout.next_tuple():
                partition = int(emit.values[1])
                if partition == 0:
                    spout.ack(emit.id)
                emitted[partition] = emitted.get(partition, 0) + len(unpack_batch(emit.values[2]))
        assert emitted == PRODUCED
        t = settings.events_topic
        want = {f"{t}/0": 0, f"{t}/1": 5, f"{t}/2": 3}
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline and (not spout.metrics or spout.metrics[-1][1] != want):
            spout.next_tuple()
        names = {name for name, _ in spout.metrics}
        assert names == {"kafka_lag"}
        assert len(spout.metrics) <= time.monotonic() - started  # at most one per 1 s interval
        assert spout.metrics[-1][1] == want
        # The figure is what `squall lag` reads from the group coordinator too.
        assert {f"{r.topic}/{r.partition}": r.lag for r in group_lag(settings)} == want
    finally:
        spout.close()
