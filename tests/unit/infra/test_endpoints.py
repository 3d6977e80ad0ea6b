from __future__ import annotations

import json
from pathlib import Path

import pytest

from squall.config import load_project, services
from squall.errors import ConfigError
from squall.infra.endpoints import (
    DEFAULT_PORTS,
    Endpoints,
    RemoteAccessWarning,
    check_host,
    is_loopback,
    parse_host_port,
)

ROOT = Path(__file__).resolve().parents[3]


def test_project_config_gives_the_standard_loopback_ports() -> None:
    ep = Endpoints.from_services(services(load_project(ROOT), "dev"))
    assert ep.host == "127.0.0.1"
    assert ep.address("kafka") == "127.0.0.1:9092"
    assert ep.port("zookeeper") == 2181
    assert ep.port("cassandra") == 9042
    assert ep.port("nimbus") == 6627
    assert ep.port("storm_ui") == 8080
    assert ep.slots == (6700, 6701)


def test_ports_are_configurable_and_defaults_fill_the_rest() -> None:
    ep = Endpoints.from_services(
        {"kafka": "127.0.0.1:19092", "kafka_controller": 19093, "supervisor_slots": [6800]}
    )
    assert ep.port("kafka") == 19092
    assert ep.port("kafka_controller") == 19093
    assert ep.port("cassandra") == DEFAULT_PORTS["cassandra"]
    assert ep.slots == (6800,)


@pytest.mark.parametrize("text", ["9092", "host:", ":9092", "host:notaport", "host:70000"])
def test_bad_host_port_names_the_key(text: str) -> None:
    with pytest.raises(ConfigError, match=r"envs.dev.services.kafka.*host:port"):
        Endpoints.from_services({"kafka": text})


def test_two_hosts_are_refused() -> None:
    with pytest.raises(ConfigError, match="several hosts"):
        Endpoints.from_services({"kafka": "127.0.0.1:9092", "cassandra": "127.0.0.2:9042"})


def test_shared_port_is_refused() -> None:
    with pytest.raises(ConfigError, match="share a port"):
        Endpoints.from_services({"kafka": "127.0.0.1:8080"})


def test_bad_slots_are_refused() -> None:
    with pytest.raises(ConfigError, match="supervisor_slots"):
        Endpoints.from_services({"supervisor_slots": "6700"})


def test_parse_host_port() -> None:
    assert parse_host_port("127.0.0.1:2181", "k") == ("127.0.0.1", 2181)


def test_config_json_is_valid_json_for_the_dev_env() -> None:
    raw = json.loads((ROOT / "config.json").read_text())
    assert "services" in raw["envs"]["dev"]


@pytest.mark.parametrize("host", ["0.0.0.0", "[::]"])
def test_a_wildcard_host_is_refused_even_with_allow_remote(host: str) -> None:
    for allow in (False, True):
        with pytest.raises(
            ConfigError, match=r"envs.dev.services.nimbus: .* is a wildcard.*fix: use 127.0.0.1"
        ):
            Endpoints.from_services({"nimbus": f"{host}:6627", "allow_remote": allow})


def test_a_non_loopback_host_needs_allow_remote_and_then_warns() -> None:
    with pytest.raises(
        ConfigError, match=r"envs.dev.services.kafka: '192.168.1.20' is not a loopback.*allow_remote"
    ):
        Endpoints.from_services({"kafka": "192.168.1.20:9092"})
    with pytest.warns(RemoteAccessWarning, match="listen on 192.168.1.20, reachable from other hosts"):
        ep = Endpoints.from_services({"kafka": "192.168.1.20:9092", "allow_remote": True})
    assert ep.host == "192.168.1.20" and ep.allow_remote


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "::1"])
def test_loopback_hosts_pass_silently(host: str, recwarn: pytest.WarningsRecorder) -> None:
    assert is_loopback(host)
    check_host(host, False, "envs.dev.services.kafka")
    assert not recwarn.list


def test_allow_remote_must_be_a_boolean() -> None:
    with pytest.raises(ConfigError, match=r"envs.dev.services.allow_remote: 'yes' is not true or false"):
        Endpoints.from_services({"allow_remote": "yes"})
