"""Start-up checks relating event rate, window hold time, max.spout.pending and Kafka's max_uncommitted."""

from __future__ import annotations

import logging

import pytest

from squall.errors import ConfigError
from squall.pipeline.sources import check_source_settings, spout_batch_size

WINDOWS = {
    "definitions": [{"type": "tumbling", "length_s": 60}],
    "allowed_lateness_s": 5,
    "idle_timeout_s": 5,
}


def kafka_settings(**extra: object) -> dict[str, object]:
    return {
        "source": "kafka",
        "windows": WINDOWS,
        "kafka": {"max_uncommitted": 1000, "partitions": 4},
        **extra,
    }


def test_kafka_peak_rate_above_what_max_uncommitted_holds_is_a_config_error() -> None:
    # 100 events/s x 65 s / 4 partitions = 1625 held per partition > 1000
    with pytest.raises(ConfigError, match=r"pipeline.kafka.max_uncommitted.*1626"):
        check_source_settings(kafka_settings(peak_events_per_s=100), {}, 1)
    check_source_settings(kafka_settings(peak_events_per_s=60), {}, 1)  # 975 + 1 per partition: fits


def test_kafka_peak_rate_is_checked_against_max_spout_pending() -> None:
    with pytest.raises(ConfigError, match=r"topology.max.spout.pending.*3251"):
        check_source_settings(kafka_settings(peak_events_per_s=50), {"topology.max.spout.pending": 3000}, 1)


def test_kafka_without_a_peak_rate_warns_with_the_highest_rate_the_limits_allow(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="squall.pipeline.sources"):
        check_source_settings(kafka_settings(), {"topology.max.spout.pending": 6500}, 1)
    text = caplog.text
    assert "62 events/s (pipeline.kafka.max_uncommitted 1000 x 4 partitions / 65s)" in text
    assert "100 events/s (topology.max.spout.pending 6500 x 1 spout tasks / 65s)" in text
    assert "idle_timeout_s 5s" in text


def test_bad_peak_rate_and_batch_size_name_the_key() -> None:
    with pytest.raises(ConfigError, match="pipeline.peak_events_per_s"):
        check_source_settings(kafka_settings(peak_events_per_s=-1), {}, 1)
    with pytest.raises(ConfigError, match="pipeline.spout.batch_size"):
        spout_batch_size({"spout": {"batch_size": "many"}})
    assert spout_batch_size({}) == 1000
