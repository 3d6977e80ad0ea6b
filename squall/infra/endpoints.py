"""Hosts and ports of the dev services, read from config.json `envs.<env>.services` ("host:port" strings).

Ports that config.json does not list (Kafka's controller listener, Cassandra's storage port, the supervisor's
worker slots) use their standard values unless the same section names them.

The host is the one address every service listens on *and* the address clients (and Kafka's and Storm's
advertised addresses) use. It must be a loopback address (127.0.0.0/8, ::1, localhost): none of the services
authenticates its clients. Another address of this machine opens them to the network and needs
`"allow_remote": true` in the same section (squall then warns, `RemoteAccessWarning`). A wildcard (0.0.0.0, ::)
is always refused: it is no address a client or another host can be told to use.
"""

from __future__ import annotations

import ipaddress
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from squall.errors import ConfigError, SquallWarning

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
# every key an env's `services` section may hold: the ports, the worker slots, whether a non-loopback host is
# meant (allow_remote), and which services the env runs, its state folder and whether it is secured (api)
SERVICE_KEYS = (*DEFAULT_PORTS, "supervisor_slots", "allow_remote", "run", "state", "secure")
# several Supervisors on this host, each as Storm would run it on a host of its own (squall.infra.storm):
# "supervisors": [{"thrift": 6628, "slots": [6700, 6701]}, {"thrift": 6638, "slots": [6710, 6711]}]
SERVICE_KEYS += ("supervisors",)
SUPERVISOR_KEYS = ("thrift", "slots")


@dataclass(frozen=True)
class SupervisorPorts:
    """One Supervisor's Thrift port and worker slot ports."""

    thrift: int
    slots: tuple[int, ...]


class RemoteAccessWarning(SquallWarning):
    """The dev services listen on an address other hosts can reach (`allow_remote` is set)."""


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    ip = _ip(host)
    return ip is not None and ip.is_loopback


def check_host(host: str, allow_remote: bool, key: str) -> None:
    """ConfigError for a wildcard host, or a non-loopback one without `allow_remote`; a warning when allowed."""
    ip = _ip(host)
    where = key.rpartition(".")[0] or key
    if ip is not None and ip.is_unspecified:
        raise ConfigError(
            key,
            f"{host!r} is a wildcard, not an address clients (or Kafka's and Storm's advertised addresses) can use",
            f"use 127.0.0.1; to open the services to other hosts, use this machine's own address "
            f'(e.g. 192.168.1.20) and set "allow_remote": true in {where}',
        )
    if is_loopback(host):
        return
    if not allow_remote:
        raise ConfigError(
            key,
            f"{host!r} is not a loopback address: every service (unauthenticated) would be reachable from other hosts",
            f'use "127.0.0.1", or set "allow_remote": true in {where} to open them deliberately',
        )
    warnings.warn(
        f"{where}: the services listen on {host}, reachable from other hosts without authentication "
        f'("allow_remote": true)',
        RemoteAccessWarning,
        stacklevel=3,
    )


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
    allow_remote: bool = False
    # Supervisors after the first (whose ports are supervisor_thrift and slots): `supervisor-2`, `supervisor-3`...
    extra_supervisors: tuple[SupervisorPorts, ...] = ()

    def port(self, name: str) -> int:
        return self.ports[name]

    def address(self, name: str) -> str:
        return f"{self.host}:{self.ports[name]}"

    @classmethod
    def from_services(cls, section: Mapping[str, Any], where: str = "envs.dev.services") -> Endpoints:
        ports = dict(DEFAULT_PORTS)
        hosts: dict[str, str] = {}
        allow_remote = section.get("allow_remote", False)
        if not isinstance(allow_remote, bool):
            raise ConfigError(
                f"{where}.allow_remote", f"{allow_remote!r} is not true or false", "write true or false"
            )
        for name in DEFAULT_PORTS:
            if name not in section:
                continue
            value = section[name]
            if isinstance(value, int) and not isinstance(value, bool):
                ports[name] = value
                continue
            host, port = parse_host_port(value, f"{where}.{name}")
            hosts.setdefault(host, f"{where}.{name}")
            ports[name] = port
        if len(hosts) > 1:
            raise ConfigError(
                where,
                f"services on several hosts ({', '.join(sorted(hosts))})",
                "squall infra runs every service on one loopback host; use 127.0.0.1 throughout",
            )
        slots = _slots(section.get("supervisor_slots", list(DEFAULT_SLOTS)), f"{where}.supervisor_slots")
        extra: list[SupervisorPorts] = []
        if "supervisors" in section:
            sups = _supervisors(section, where, hosts)
            ports["supervisor_thrift"], slots = sups[0].thrift, list(sups[0].slots)
            extra = sups[1:]
        used = [*ports.values(), *slots, *(p for sup in extra for p in (sup.thrift, *sup.slots))]
        if len(set(used)) != len(used):
            raise ConfigError(
                where, f"two services share a port ({sorted(used)})", "give each service its own port"
            )
        host, key = next(iter(hosts.items())) if hosts else (DEFAULT_HOST, f"{where}.host")
        check_host(host, allow_remote, key)
        return cls(
            host=host,
            ports=ports,
            slots=tuple(slots),
            allow_remote=allow_remote,
            extra_supervisors=tuple(extra),
        )


def _slots(value: Any, key: str) -> list[int]:
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(s, int) and not isinstance(s, bool) and 0 < s < 65536 for s in value)
    ):
        raise ConfigError(key, f"{value!r} is not a list of ports", "e.g. [6700, 6701]")
    return value


def _supervisors(section: Mapping[str, Any], where: str, hosts: dict[str, str]) -> list[SupervisorPorts]:
    """`supervisors`: every Supervisor of this host, the first being the `supervisor` service."""
    key = f"{where}.supervisors"
    for single in ("supervisor_thrift", "supervisor_slots"):
        if single in section:
            raise ConfigError(
                f"{where}.{single}",
                "is set together with supervisors",
                f"give the first Supervisor's ports as supervisors[0] and remove {single}",
            )
    value = section["supervisors"]
    if not isinstance(value, list) or not value:
        raise ConfigError(key, f"{value!r} is not a list", 'e.g. [{"thrift": 6628, "slots": [6700, 6701]}]')
    out = []
    for i, entry in enumerate(value):
        at = f"{key}[{i}]"
        if not isinstance(entry, dict) or set(entry) != set(SUPERVISOR_KEYS):
            raise ConfigError(
                at, f"{entry!r} is not a Supervisor", 'write {"thrift": 6628, "slots": [6700, 6701]}'
            )
        thrift = entry["thrift"]
        if isinstance(thrift, int) and not isinstance(thrift, bool) and 0 < thrift < 65536:
            port = thrift
        else:
            host, port = parse_host_port(thrift, f"{at}.thrift")
            hosts.setdefault(host, f"{at}.thrift")
            if len(hosts) > 1:
                raise ConfigError(
                    f"{at}.thrift",
                    f"{host!r} is another host than the other services'",
                    "squall infra runs every service on one loopback host; use 127.0.0.1 throughout",
                )
        out.append(SupervisorPorts(thrift=port, slots=tuple(_slots(entry["slots"], f"{at}.slots"))))
    return out
