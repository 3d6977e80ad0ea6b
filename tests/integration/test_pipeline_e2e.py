"""End to end on the real services: `squall simulate` -> Kafka -> `squall run iot_pipeline -e dev` -> Cassandra.

The run uses a copy of the project's config.json with this run's own topics, consumer group and keyspace, so
reruns never collide. Checks: every metric_windows row equals the independent truth (squall.pipeline.truth;
p50/p95 within the sketch's relative accuracy), every malformed event is in the dead-letter topic with its
reason, late events are dead-lettered as late, counts reconcile, and committed offsets reach every log end.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from squall.cassandra.statements import datetime_to_ms
from squall.cassandra.store import connect, read_window_rows
from squall.config import load_project, pipeline_settings
from squall.kafka import admin
from squall.kafka.dead_letters import decode_dead_letter
from squall.kafka.simulate import read_truth
from squall.pipeline.simulator import POISON_REASONS
from squall.pipeline.truth import telemetry_filter
from tests.integration.pipeline_project import (
    E2EProject,
    assert_windows_equal_the_truth,
    make_project,
    malformed_letters,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def project(
    tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str, cassandra_address: str
) -> Iterator[E2EProject]:
    run = uuid.uuid4().hex[:10]
    made = make_project(tmp_path_factory.mktemp("e2e") / "project", run, kafka_bootstrap, cassandra_address)
    yield made
    made.drop()


@pytest.fixture(scope="module")
def outcome(project: E2EProject) -> dict[str, Any]:
    """Produce, run the pipeline until idle, and collect what landed in Kafka and Cassandra."""
    project.squall("db", "init", "-e", "dev", timeout_s=180)
    truth_file = project.root / "truth.json"
    project.squall(
        "simulate",
        "-e",
        "dev",
        "--devices",
        "20",
        "--rate",
        "200",
        "--duration",
        "20",
        "--partitions",
        "4",
        "--bad-ratio",
        "0.02",
        "--dup-ratio",
        "0.03",
        "--late-ratio",
        "0.02",
        "--seed",
        "11",
        "--truth",
        str(truth_file),
        timeout_s=300,
    )
    ran = project.squall("run", "iot_pipeline", "-e", "dev", "--until-idle", "5", "--json", timeout_s=600)
    k, c = project.kafka, project.cassandra
    rows = read_window_rows(c)
    cluster, session = connect(c, c.keyspace)
    try:
        stored_events = [
            {
                "tenant": r.tenant,
                "device_id": r.device_id,
                "event_id": r.event_id,
                "ts": datetime_to_ms(r.ts),
                "type": r.type,
                "metrics": dict(r.metrics or {}),
                "attrs": json.loads(r.attrs or "{}"),
            }
            for r in session.execute("SELECT * FROM events")
        ]
        stored_dead = session.execute("SELECT count(*) FROM dead_letters").one()[0]
    finally:
        cluster.shutdown()
    return {
        "truth": read_truth(truth_file),
        "summary": json.loads(ran.stdout[ran.stdout.index("{") :]),
        "rows": rows,
        "stored_events": stored_events,
        "routing": pipeline_settings(load_project(project.root), "dev").get("routing"),
        "stored_dead": stored_dead,
        "dead_letters": [decode_dead_letter(r.value) for r in admin.read_topic(k, k.dlq_topic)],
        "ends": admin.end_offsets(k, k.events_topic),
        "committed": admin.committed_offsets(k, k.events_topic),
    }


def test_metric_windows_equal_the_independent_truth(outcome: dict[str, Any]) -> None:
    assert_windows_equal_the_truth(outcome)


def test_every_malformed_event_is_dead_lettered_with_its_reason(outcome: dict[str, Any]) -> None:
    truth = outcome["truth"]
    expected, got = malformed_letters(outcome)
    assert len(expected) == truth["dead_lettered"] > 0
    assert POISON_REASONS <= set(expected.values())  # poison, interleaved with normal traffic
    assert got == expected
    by_key = {(d.source_topic, d.source_partition, d.source_offset): d for d in outcome["dead_letters"]}
    assert all(by_key[key].payload for key in expected)  # original bytes kept


def test_counts_reconcile(outcome: dict[str, Any]) -> None:
    """produced = aggregated + duplicates + late + dead-lettered (+ valid events routed away from the windows),
    each side counted from what landed in Kafka and Cassandra and compared with the truth."""
    truth = outcome["truth"]
    produced = sum(outcome["ends"].values())
    late = Counter(d.reason for d in outcome["dead_letters"])["late"]
    bad = sum(1 for d in outcome["dead_letters"] if d.reason != "late")
    unique_valid = len(outcome["stored_events"])  # raw events table: one row per (tenant, event_id)
    windowed = telemetry_filter(outcome["routing"])
    elsewhere = sum(1 for e in outcome["stored_events"] if not windowed(e))
    aggregated = unique_valid - late - elsewhere
    duplicates = produced - unique_valid - bad
    assert produced == truth["produced"]
    assert (aggregated, duplicates, late, bad, elsewhere) == (
        truth["aggregated"],
        truth["duplicates"],
        truth["late"],
        truth["dead_lettered"],
        truth["elsewhere"],
    )
    assert produced == aggregated + duplicates + late + bad + elsewhere
    assert outcome["stored_dead"] == late + bad


def test_committed_offsets_reach_the_end_of_every_partition(outcome: dict[str, Any]) -> None:
    ends = outcome["ends"]
    assert len(ends) == 4 and sum(ends.values()) > 0
    assert outcome["committed"] == ends
    spout = next(c for c in outcome["summary"]["components"] if c["name"] == "events")
    # the spout emits batches (one per partition and next_tuple): every one acked, none failed
    assert spout["failed"] == 0 and spout["acked"] == spout["emitted"] > 0


def test_dlq_show_prints_reasons_and_sources(project: E2EProject, outcome: dict[str, Any]) -> None:
    shown = project.squall("dlq", "show", "-e", "dev", "--limit", "500", timeout_s=120).stdout
    first_bad = outcome["truth"]["bad"][0]
    assert first_bad["reason"] in shown
    assert project.kafka.events_topic in shown
    assert f"{len(outcome['dead_letters'][:500])} dead letter(s) shown" in shown


def test_replaying_the_topic_overwrites_the_same_rows(project: E2EProject, outcome: dict[str, Any]) -> None:
    """Reset the group to the start and run again: upserts keep metric_windows identical (idempotent replay)."""
    k = replace(project.kafka)
    config = json.loads((project.root / "config.json").read_text())
    config["envs"]["dev"]["pipeline"]["kafka"]["group_id"] = k.group_id + ".replay"
    (project.root / "config.json").write_text(json.dumps(config, indent=2))
    project.squall("run", "iot_pipeline", "-e", "dev", "--until-idle", "5", "--json", timeout_s=600)
    assert read_window_rows(project.cassandra) == outcome["rows"]
