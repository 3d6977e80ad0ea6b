"""`squall run` checks, before anything starts, that the passwords and TLS files its clients need can be read."""

from __future__ import annotations

from pathlib import Path

import pytest

from squall.errors import ConfigError
from squall.pipeline.stores import check_credentials

KAFKA = {
    "security_protocol": "SASL_SSL",
    "username": "u",
    "password_env": "SQUALL_TEST_CHECK_PASSWORD",
}


def test_the_kafka_source_needs_its_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SQUALL_TEST_CHECK_PASSWORD", raising=False)
    with pytest.raises(ConfigError) as info:
        check_credentials({"source": "kafka", "kafka": KAFKA})
    assert info.value.key == "pipeline.kafka.password_env"
    monkeypatch.setenv("SQUALL_TEST_CHECK_PASSWORD", "x")
    check_credentials({"source": "kafka", "kafka": KAFKA})


def test_a_pipeline_that_makes_no_kafka_client_does_not_ask(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SQUALL_TEST_CHECK_PASSWORD", raising=False)
    check_credentials({"source": "simulator", "sink": "sqlite", "kafka": KAFKA})
    with pytest.raises(ConfigError):  # the simulator source with the Kafka publisher does make one
        check_credentials({"source": "simulator", "publisher": "kafka", "kafka": KAFKA})


def test_the_cassandra_sink_needs_its_password_file_relative_to_the_project(tmp_path: Path) -> None:
    pipeline = {
        "sink": "cassandra",
        "project_root": str(tmp_path),
        "cassandra": {"username": "u", "password_file": "secrets/c.password"},
    }
    with pytest.raises(ConfigError) as info:
        check_credentials(pipeline)
    assert info.value.key == "pipeline.cassandra.password_file"
    assert str(tmp_path / "secrets" / "c.password") in str(info.value)
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "c.password").write_text("pw\n")
    check_credentials(pipeline)
