"""The pure side of consumer lag: rows from committed and end offsets, the JSON document, the metric pacing."""

from __future__ import annotations

import pytest
from kafka.structs import TopicPartition

from squall.clock import ManualClock
from squall.errors import ConfigError
from squall.kafka.lag import Every, describe, lag_document, metrics_interval, spout_lag

A0, A1, B0 = TopicPartition("a", 0), TopicPartition("a", 1), TopicPartition("b", 0)


def test_describe_is_end_minus_committed_sorted_and_never_negative() -> None:
    rows = describe({B0: 10, A1: None, A0: 4}, {A0: 9, A1: 7, B0: 8}, starts={A1: 2})
    assert [(r.topic, r.partition, r.committed, r.end, r.lag) for r in rows] == [
        ("a", 0, 4, 9, 5),
        ("a", 1, None, 7, 5),  # nothing committed: from the log start
        ("b", 0, 10, 8, 0),  # a commit past a truncated log is no negative lag
    ]


def test_describe_leaves_out_partitions_without_an_end_offset() -> None:
    assert [r.partition for r in describe({A0: 1, A1: 1}, {A1: 3})] == [1]


def test_lag_document_has_stable_keys_and_the_total() -> None:
    doc = lag_document("g", describe({A0: 1, A1: None}, {A0: 4, A1: 2}))
    assert doc == {
        "group": "g",
        "partitions": [
            {"topic": "a", "partition": 0, "committed": 1, "end": 4, "lag": 3},
            {"topic": "a", "partition": 1, "committed": None, "end": 2, "lag": 2},
        ],
        "total_lag": 5,
    }


class Ends:
    """A consumer's end_offsets, recorded (pure logic: the broker side is tested against the real Kafka)."""

    def __init__(self, ends: dict[TopicPartition, int]) -> None:
        self.ends = ends
        self.asked: list[list[TopicPartition]] = []

    def end_offsets(self, tps: list[TopicPartition], timeout_ms: int) -> dict[TopicPartition, int]:
        self.asked.append(sorted(tps))
        return {tp: self.ends[tp] for tp in tps}


def test_spout_lag_keys_are_topic_slash_partition_with_one_request() -> None:
    consumer = Ends({A0: 10, A1: 3})
    assert spout_lag(consumer, {A1: 3, A0: 4}, 1000) == {"a/0": 6, "a/1": 0}
    assert consumer.asked == [[A0, A1]]
    assert spout_lag(consumer, {}, 1000) == {}
    assert len(consumer.asked) == 1  # nothing assigned: no request


def test_every_is_due_once_per_interval_on_the_given_clock() -> None:
    clock = ManualClock()
    every = Every(60, clock)
    assert not every.due()
    clock.advance(59.9)
    assert not every.due()
    clock.advance(0.1)
    assert every.due()
    assert not every.due()  # once, then again one interval later
    clock.advance(60)
    assert every.due()


def test_metrics_interval_is_storms_bucket_size_default_60() -> None:
    assert metrics_interval({}) == 60.0
    assert metrics_interval({"topology.builtin.metrics.bucket.size.secs": 5}) == 5.0


def test_no_lag_metric_on_a_storm_worker() -> None:
    # Storm's ShellSpout stops the worker on a metric name no Java code registered
    assert (
        metrics_interval({"storm.id": "iot-1-1767225600", "topology.builtin.metrics.bucket.size.secs": 5})
        is None
    )


def test_a_bad_metrics_interval_is_a_config_error() -> None:
    for bad in (0, -1, "10", True):
        with pytest.raises(ConfigError, match=r"topology\.builtin\.metrics\.bucket\.size\.secs: .* \(fix: "):
            metrics_interval({"topology.builtin.metrics.bucket.size.secs": bad})
