"""Health checks that talk each service's real protocol. Each returns (healthy, detail) and never raises."""

from __future__ import annotations

import json
import logging
import socket
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

Health = tuple[bool, str]


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def zookeeper_four_letter(host: str, port: int, word: str = "ruok", timeout: float = 2.0) -> str:
    """Send a ZooKeeper four-letter word and return the reply ('' on any failure)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(word.encode())
            chunks = []
            while True:
                data = sock.recv(4096)
                if not data:
                    break
                chunks.append(data)
            return b"".join(chunks).decode(errors="replace")
    except OSError:
        return ""


def zookeeper(host: str, port: int) -> Health:
    """`ruok` answers imok as soon as the port is open; `srvr` shows the server really serves (has a Mode)."""
    reply = zookeeper_four_letter(host, port, "ruok")
    if reply.strip() != "imok":
        return False, f"ruok -> {reply.strip()!r}" if reply else "no answer on the client port"
    srvr = zookeeper_four_letter(host, port, "srvr")
    mode = next(
        (line.split(":", 1)[1].strip() for line in srvr.splitlines() if line.startswith("Mode:")), None
    )
    if mode is None:
        return False, f"ruok -> imok but srvr -> {srvr.strip()[:80]!r}"
    return True, f"ruok -> imok, mode {mode}"


def kafka(host: str, port: int, timeout: float = 5.0, security: Mapping[str, Any] | None = None) -> Health:
    """Healthy when the broker answers a metadata request and reports itself as a live broker. `security`:
    kafka-python's security arguments (squall.kafka.client.security_config) for a secured listener."""
    if not port_open(host, port):
        return False, "port closed"
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    admin = None
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=f"{host}:{port}",
            request_timeout_ms=int(timeout * 1000),
            client_id="squall-health",
            **(security or {}),
        )
        cluster: dict[str, Any] = admin.describe_cluster()
        brokers = cluster.get("brokers") or []
        if not brokers:
            return False, "no live broker in metadata"
        return True, f"{len(brokers)} broker(s), cluster {cluster.get('cluster_id')}"
    except (KafkaError, OSError, ValueError) as exc:
        return False, f"{type(exc).__name__}: {exc}"
    finally:
        if admin is not None:
            admin.close()


def cassandra(
    host: str, port: int, timeout: float = 10.0, security: Mapping[str, Any] | None = None
) -> Health:
    """Healthy when a CQL session answers `SELECT release_version FROM system.local`. `security`: the Cluster's
    `auth_provider` / `ssl_context` (squall.cassandra.client.cluster_security) for a secured node."""
    if not port_open(host, port):
        return False, "port closed"
    from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, NoHostAvailable
    from cassandra.policies import WhiteListRoundRobinPolicy

    logging.getLogger("cassandra").setLevel(logging.CRITICAL)
    profile = ExecutionProfile(
        load_balancing_policy=WhiteListRoundRobinPolicy([host]), request_timeout=timeout
    )
    cluster = Cluster(
        contact_points=[host],
        port=port,
        connect_timeout=timeout,
        control_connection_timeout=timeout,
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        protocol_version=5,
        **(security or {}),
    )
    try:
        session = cluster.connect()
        row = session.execute("SELECT release_version FROM system.local").one()
        return True, f"release_version {row.release_version}"
    except (NoHostAvailable, OSError, Exception) as exc:  # noqa: BLE001 - the driver raises many kinds
        return False, f"{type(exc).__name__}: {exc}"
    finally:
        cluster.shutdown()


def http_json(url: str, timeout: float = 5.0) -> tuple[int, Any]:
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - loopback URL we built
        return resp.status, json.loads(resp.read().decode())


def storm_ui(host: str, port: int) -> Health:
    try:
        status, body = http_json(f"http://{host}:{port}/api/v1/cluster/summary")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return False, f"{type(exc).__name__}: {exc}"
    if status != 200 or not isinstance(body, dict):
        return False, f"HTTP {status}"
    return True, f"storm {body.get('stormVersion', '?')}, {body.get('supervisors', '?')} supervisor(s)"
