from __future__ import annotations

import pytest

from squall.errors import ConfigError
from squall.kafka.settings import KafkaSettings


def test_defaults_and_overrides_from_pipeline_section() -> None:
    s = KafkaSettings.from_pipeline({"source": "kafka", "kafka": {"events_topic": "e", "max_retries": 5}})
    assert s.events_topic == "e" and s.max_retries == 5
    assert s.backoff.max_retries == 5
    assert s.dlq_topic == "iot.dlq" and s.servers == ["127.0.0.1:9092"]
    assert KafkaSettings.from_pipeline(s) is s


def test_ints_accepted_for_seconds() -> None:
    assert KafkaSettings.from_section({"commit_interval_s": 2}).commit_interval_s == 2.0


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ({"start": "beginning"}, "pipeline.kafka.start"),
        ({"format": "xml"}, "pipeline.kafka.format"),
        ({"max_retries": "3"}, "pipeline.kafka.max_retries"),
        ({"max_uncommitted": 0}, "pipeline.kafka.max_uncommitted"),
        ({"bootstrap_servers": "localhost"}, "pipeline.kafka.bootstrap_servers"),
        ({"topic": "x"}, "pipeline.kafka.topic"),
        ({"backoff_period_s": -1}, "pipeline.kafka.backoff_period_s"),
    ],
)
def test_bad_values_name_the_key(section: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        KafkaSettings.from_section(section)
    assert info.value.key == key


def test_max_retries_is_null_by_default_and_a_negative_bound_names_the_fix() -> None:
    assert KafkaSettings.from_pipeline({"source": "kafka", "kafka": {}}).max_retries is None  # retry forever
    assert KafkaSettings.from_pipeline({"kafka": {"max_retries": None}}).backoff.max_retries is None
    assert KafkaSettings.from_pipeline({"kafka": {"max_retries": 0}}).backoff.max_retries == 0
    with pytest.raises(ConfigError, match=r"pipeline\.kafka\.max_retries.*-1.*null to retry forever"):
        KafkaSettings.from_pipeline({"kafka": {"max_retries": -1}})
    with pytest.raises(ConfigError, match=r"pipeline\.kafka\.max_retries.*not an integer"):
        KafkaSettings.from_pipeline({"kafka": {"max_retries": "3"}})


def test_fetch_min_bytes_is_capped_at_one_partitions_fetch_so_a_backlog_never_waits() -> None:
    assert KafkaSettings.from_section({}).fetch_min == 65_536
    small = KafkaSettings.from_section({"fetch_partition_bytes": 1_000})
    assert small.fetch_min_bytes == 65_536 and small.fetch_min == 1_000
    with pytest.raises(ConfigError):
        KafkaSettings.from_section({"fetch_min_bytes": 0})
    with pytest.raises(ConfigError):
        KafkaSettings.from_section({"fetch_max_wait_ms": -1})
