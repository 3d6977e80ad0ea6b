"""The kafka-python arguments squall builds from `pipeline.kafka`, for plain and secured clusters."""

from __future__ import annotations

from pathlib import Path

import pytest

from squall.errors import ConfigError
from squall.kafka.client import client_config, security_config, unreachable
from squall.kafka.settings import KafkaSettings

SECURED = {
    "bootstrap_servers": "broker-1:9094,broker-2:9094",
    "security_protocol": "SASL_SSL",
    "sasl_mechanism": "SCRAM-SHA-256",
    "username": "pipeline",
    "password_env": "SQUALL_TEST_KAFKA_PASSWORD",
}


def test_plaintext_adds_no_security_arguments() -> None:
    config = client_config(KafkaSettings(), client_id="x", acks="all")
    assert config == {
        "bootstrap_servers": ["127.0.0.1:9092"],
        "request_timeout_ms": 30000,
        "client_id": "x",
        "acks": "all",
    }


def test_sasl_ssl_gives_kafka_python_its_parameters(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("not parsed here")
    monkeypatch.setenv("SQUALL_TEST_KAFKA_PASSWORD", "p4ss-word")
    settings = KafkaSettings.from_section({**SECURED, "ssl_cafile": str(ca), "ssl_check_hostname": False})
    config = client_config(settings, client_id="squall-admin")
    assert config["security_protocol"] == "SASL_SSL"
    assert config["sasl_mechanism"] == "SCRAM-SHA-256"
    assert config["sasl_plain_username"] == "pipeline"
    assert config["sasl_plain_password"] == "p4ss-word"
    assert config["ssl_cafile"] == str(ca)
    assert config["ssl_check_hostname"] is False
    assert config["bootstrap_servers"] == ["broker-1:9094", "broker-2:9094"]
    # kafka-python logs its configuration dict at debug level: the password shows masked there
    assert "p4ss-word" not in repr(config) and "'***'" in repr(config)
    assert "p4ss-word" not in repr(settings)


def test_the_password_is_read_when_a_client_is_made(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SQUALL_TEST_KAFKA_PASSWORD", raising=False)
    settings = KafkaSettings.from_section(SECURED)  # parsing does not need it
    with pytest.raises(ConfigError) as info:
        client_config(settings)
    assert info.value.key == "pipeline.kafka.password_env"
    monkeypatch.setenv("SQUALL_TEST_KAFKA_PASSWORD", "later")
    assert client_config(settings)["sasl_plain_password"] == "later"


def test_ssl_only_with_a_client_certificate(tmp_path: Path) -> None:
    for name in ("ca.pem", "client.pem", "client.key"):
        (tmp_path / name).write_text("x")
    settings = KafkaSettings.from_section(
        {
            "security_protocol": "SSL",
            "ssl_cafile": "ca.pem",
            "ssl_certfile": "client.pem",
            "ssl_keyfile": "client.key",
        },
        root=tmp_path,
    )
    assert security_config(settings) == {
        "security_protocol": "SSL",
        "ssl_check_hostname": True,
        "ssl_cafile": str(tmp_path / "ca.pem"),
        "ssl_certfile": str(tmp_path / "client.pem"),
        "ssl_keyfile": str(tmp_path / "client.key"),
    }


def test_relative_files_are_taken_from_the_project_root_of_the_pipeline(tmp_path: Path) -> None:
    kafka = {k: v for k, v in SECURED.items() if k != "password_env"}
    pipeline = {
        "project_root": str(tmp_path),
        "kafka": {**kafka, "password_file": ".state/pw", "ssl_cafile": "/abs/ca.pem"},
    }
    settings = KafkaSettings.from_pipeline(pipeline)
    assert settings.password_file == str(tmp_path / ".state" / "pw")
    assert settings.ssl_cafile == "/abs/ca.pem"


def test_a_missing_ca_file_names_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SQUALL_TEST_KAFKA_PASSWORD", "x")
    settings = KafkaSettings.from_section({**SECURED, "ssl_cafile": str(tmp_path / "missing.pem")})
    with pytest.raises(ConfigError) as info:
        settings.check_credentials()
    assert info.value.key == "pipeline.kafka.ssl_cafile"


@pytest.mark.parametrize(
    ("section", "key", "words"),
    [
        ({**SECURED, "password": "hunter2"}, "pipeline.kafka.password", "password_env"),
        ({"security_protocol": "TLS"}, "pipeline.kafka.security_protocol", "SASL_SSL"),
        ({**SECURED, "sasl_mechanism": "GSSAPI"}, "pipeline.kafka.sasl_mechanism", "SCRAM-SHA-512"),
        ({**SECURED, "username": ""}, "pipeline.kafka.username", "SASL user name"),
        (
            {k: v for k, v in SECURED.items() if k != "password_env"},
            "pipeline.kafka.password_env",
            "password_file",
        ),
        ({"username": "u"}, "pipeline.kafka.username", "security_protocol"),
        ({"password_env": "X"}, "pipeline.kafka.password_env", "security_protocol"),
        ({"ssl_cafile": "/ca.pem"}, "pipeline.kafka.ssl_cafile", "SASL_SSL"),
        (
            {"security_protocol": "SSL", "ssl_keyfile": "/k.pem"},
            "pipeline.kafka.ssl_keyfile",
            "ssl_certfile",
        ),
        ({**SECURED, "ssl_check_hostname": "no"}, "pipeline.kafka.ssl_check_hostname", "true/false"),
    ],
)
def test_bad_security_settings_name_the_key_and_the_fix(
    section: dict[str, object], key: str, words: str
) -> None:
    with pytest.raises(ConfigError) as info:
        KafkaSettings.from_section(section)
    assert info.value.key == key
    assert words in str(info.value)
    assert "hunter2" not in str(info.value)


def test_an_unreachable_secured_cluster_points_at_the_credentials_too() -> None:
    plain = unreachable(KafkaSettings(), TimeoutError("Unable to bootstrap"))
    assert "pipeline.kafka.bootstrap_servers" in str(plain) and "password_env" not in str(plain)
    secured = unreachable(KafkaSettings.from_section(SECURED), TimeoutError("Unable to bootstrap"))
    assert "squall infra up" in str(secured) and "password_env/password_file" in str(secured)
