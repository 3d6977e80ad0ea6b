from __future__ import annotations

import pytest

from squall.cassandra.settings import CassandraSettings
from squall.errors import ConfigError


def test_defaults_and_section_from_pipeline() -> None:
    s = CassandraSettings.from_pipeline(
        {"sink": "cassandra", "cassandra": {"contact_points": "a,b", "port": 9043}}
    )
    assert s.contact_points == ("a", "b") and s.port == 9043 and s.keyspace == "squall"
    assert s.consistency == "LOCAL_QUORUM"


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ({"keyspace": "bad-name"}, "pipeline.cassandra.keyspace"),
        ({"max_in_flight": 0}, "pipeline.cassandra.max_in_flight"),
        ({"consistency": "MOST"}, "pipeline.cassandra.consistency"),
        ({"replication": {"replication_factor": 1}}, "pipeline.cassandra.replication"),
        (
            {"replication": {"class": "SimpleStrategy", "replication_factor": 0}},
            "pipeline.cassandra.replication.replication_factor",
        ),
        ({"hosts": ["x"]}, "pipeline.cassandra.hosts"),
        ({"batch_rows": 0}, "pipeline.cassandra.batch_rows"),
        ({"batch_grouping": "token"}, "pipeline.cassandra.batch_grouping"),
        ({"write_retry_s": -1}, "pipeline.cassandra.write_retry_s"),
        ({"write_retry_s": "60"}, "pipeline.cassandra.write_retry_s"),
        ({"reconnect_max_s": 0}, "pipeline.cassandra.reconnect_max_s"),
    ],
)
def test_bad_values_name_the_key(section: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        CassandraSettings.from_section(section)
    assert info.value.key == key


def test_write_retry_and_reconnect_settings() -> None:
    s = CassandraSettings.from_section({})
    assert (s.write_retry_s, s.reconnect_max_s) == (60.0, 5.0)
    s = CassandraSettings.from_section({"write_retry_s": 0, "reconnect_max_s": 2})
    assert (s.write_retry_s, s.reconnect_max_s) == (0.0, 2.0)
