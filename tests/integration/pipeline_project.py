"""A throw-away pipeline project on real services, driven through the `squall` CLI (used by the e2e and fault
tests): `make_project` gives a run its own topics, consumer group and keyspace on the given Kafka and Cassandra
(squall.testing.isolated_pipeline_project), `E2EProject.squall(...)` runs a command in it, `drop` removes its
topics and keyspace."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from squall.cassandra.settings import CassandraSettings
from squall.cassandra.store import connect
from squall.config import deep_merge
from squall.kafka import admin
from squall.kafka.settings import KafkaSettings
from squall.kafka.simulate import truth_rows
from squall.pipeline.routing import ARCHIVE_RULES
from squall.pipeline.truth import compare_rows
from squall.testing import isolated_pipeline_project

ROOT = Path(__file__).resolve().parents[2]
SQUALL = [sys.executable, "-m", "squall"]


@dataclass
class E2EProject:
    root: Path
    kafka: KafkaSettings
    cassandra: CassandraSettings
    pipeline: dict[str, Any]

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}

    def squall(self, *args: str, timeout_s: float) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [*SQUALL, *args], cwd=self.root, env=self.env, capture_output=True, text=True, timeout=timeout_s
        )
        assert done.returncode == 0, (
            f"squall {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
        return done

    def drop(self) -> None:
        """Delete this run's topics and keyspace."""
        admin.delete_topics(
            self.kafka, [self.kafka.events_topic, self.kafka.dlq_topic, self.kafka.alerts_topic]
        )
        cluster, session = connect(self.cassandra)
        try:
            session.execute(f"DROP KEYSPACE IF EXISTS {self.cassandra.keyspace}", timeout=120)
        finally:
            cluster.shutdown()


def make_project(
    dest: Path,
    run: str,
    kafka_bootstrap: str,
    cassandra_address: str,
    *,
    prefix: str = "e2e",
    pipeline: Mapping[str, Any] | None = None,
    options: Mapping[str, Any] | None = None,
) -> E2EProject:
    """A project folder sharing the repo's topologies/spouts/bolts, with this run's names in envs.dev.pipeline,
    pointed at the given Kafka and Cassandra; `pipeline` and `options` are merged into envs.dev."""
    host, _, port = cassandra_address.rpartition(":")
    services = {
        "kafka": {"bootstrap_servers": kafka_bootstrap},
        "cassandra": {"contact_points": [host], "port": int(port)},
        "routing": {"rules": ARCHIVE_RULES},  # the raw-event table is part of what the e2e checks reconcile
    }
    made = isolated_pipeline_project(
        dest,
        run,
        prefix=prefix,
        source=ROOT,
        pipeline=deep_merge(services, dict(pipeline or {})),
        options=options,
    )
    return E2EProject(made.root, made.kafka, made.cassandra, made.pipeline)


def assert_windows_equal_the_truth(outcome: Mapping[str, Any]) -> None:
    """Every stored metric_windows row of a run's `outcome` equals the independent truth (`truth`, `rows`)."""
    truth = outcome["truth"]
    expected = truth_rows(truth)
    assert expected, "the truth has no windows: the simulation produced nothing to aggregate"
    problems = compare_rows(outcome["rows"], expected, truth["relative_accuracy"], limit=30)
    assert problems == [], "\n".join(problems)


def malformed_letters(outcome: Mapping[str, Any]) -> tuple[dict[Any, str], dict[Any, str]]:
    """(expected, got): the reason of every malformed message by its source coordinates, per the truth and per
    the dead-letter topic (`dead_letters`), late letters left out."""
    expected = {(b["topic"], b["partition"], b["offset"]): b["reason"] for b in outcome["truth"]["bad"]}
    got = {
        (d.source_topic, d.source_partition, d.source_offset): d.reason
        for d in outcome["dead_letters"]
        if d.reason != "late"
    }
    return expected, got
