"""Hosts and ports of the dev services, read from config.json `envs.<env>.services` ("host:port" strings).

Ports that config.json does not list (Kafka's controller listener, Cassandra's storage port, the supervisor's
worker slots) use their standard values unless the same section names them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from squall.errors import ConfigError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORTS: dict[str, int] = {
    "zookeeper": 2181,
    "kafka": 9092,
    "kafka_controller": 9093,
    "cassandra": 9042,
    "cassandra_storage": 7000,
    "cassandra_ssl_storage": 7001,
    "nimbus": 6627,
    "supervisor_thrift": 6628,
    "storm_ui": 8080,
}
DEFAULT_SLOTS = (6700, 6701)


def parse_host_port(text: str, key: str) -> tuple[str, int]:
    host, sep, port = str(text).rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(key, f"{text!r} is not host:port", 'write it like "127.0.0.1:9092"')
    return host, int(port)


@dataclass(frozen=True)
class Endpoints:
    host: str = DEFAULT_HOST
    ports: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))
    slots: tuple[int, ...] = DEFAULT_SLOTS

    def port(self, name: str) -> int:
        return self.ports[name]

    def address(self, name: str) -> str:
        return f"{self.host}:{self.ports[name]}"

    @classmethod
    def from_services(cls, section: Mapping[str, Any], where: str = "envs.dev.services") -> Endpoints:
        ports = dict(DEFAULT_PORTS)
        hosts = set()
        for name in DEFAULT_PORTS:
            if name not in section:
                continue
            value = section[name]
            if isinstance(value, int) and not isinstance(value, bool):
                ports[name] = value
                continue
            host, port = parse_host_port(value, f"{where}.{name}")
            hosts.add(host)
            ports[name] = port
        if len(hosts) > 1:
            raise ConfigError(
                where,
                f"services on several hosts ({', '.join(sorted(hosts))})",
                "squall infra runs every service on one loopback host; use 127.0.0.1 throughout",
            )
        slots = section.get("supervisor_slots", list(DEFAULT_SLOTS))
        if (
            not isinstance(slots, list)
            or not slots
            or not all(isinstance(s, int) and 0 < s < 65536 for s in slots)
        ):
            raise ConfigError(
                f"{where}.supervisor_slots", f"{slots!r} is not a list of ports", "e.g. [6700, 6701]"
            )
        used = [*ports.values(), *slots]
        if len(set(used)) != len(used):
            raise ConfigError(
                where, f"two services share a port ({sorted(used)})", "give each service its own port"
            )
        return cls(host=hosts.pop() if hosts else DEFAULT_HOST, ports=ports, slots=tuple(slots))
