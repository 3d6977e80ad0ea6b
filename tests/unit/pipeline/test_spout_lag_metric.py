"""The event spout's `kafka_lag` metric belongs to sources that have a lag: the simulator has none, so the spout
reports nothing (the Kafka side is tested against the real broker,
tests/integration/test_kafka_lag.py)."""

from __future__ import annotations

from pathlib import Path

from spouts.events import EventSpout
from squall.testing import SpoutHarness


def conf(tmp_path: Path, bucket: object = 1) -> dict[str, object]:
    pipeline = {
        "source": "simulator",
        "sink": "sqlite",
        "sqlite": {"path": str(tmp_path / "s.db")},
        "simulator": {"devices": 2, "rate": 10, "duration_s": 2, "partitions": 2},
    }
    return {
        "squall.pipeline": pipeline,
        "topology.message.timeout.secs": 60,
        "topology.builtin.metrics.bucket.size.secs": bucket,
    }


def test_a_source_without_lag_sends_no_metric(tmp_path: Path) -> None:
    spout = SpoutHarness(EventSpout, conf(tmp_path), component="events")
    try:
        assert spout.instance.lag_every is None
        assert sum(len(spout.next_tuple()) for _ in range(5)) > 0
        assert spout.metrics == []
    finally:
        spout.close()
