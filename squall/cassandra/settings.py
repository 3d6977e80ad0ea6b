"""The `pipeline.cassandra` section of config.json, validated into one frozen object."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from squall.errors import ConfigError
from squall.secrets import SecretRef, absolute, check_credentials, secret_ref

SECTION = "pipeline.cassandra"
CONSISTENCY_LEVELS = (
    "ONE",
    "TWO",
    "THREE",
    "QUORUM",
    "ALL",
    "LOCAL_QUORUM",
    "EACH_QUORUM",
    "LOCAL_ONE",
    "ANY",
)
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,47}$")
_FILE_KEYS = ("ssl_cafile", "ssl_certfile", "ssl_keyfile")
_STRING_KEYS = ("username", "password_env", "password_file", *_FILE_KEYS)


@dataclass(frozen=True)
class CassandraSettings:
    contact_points: tuple[str, ...] = ("127.0.0.1",)
    port: int = 9042
    keyspace: str = "squall"
    replication: Mapping[str, Any] = field(
        default_factory=lambda: {"class": "SimpleStrategy", "replication_factor": 1}
    )
    max_in_flight: int = 256
    # Rows sent as one UNLOGGED batch (one request); 1 turns batching off. `batch_grouping` says which rows may
    # share a batch, as the Spark Cassandra connector's output.batch.grouping.key: "partition" (one mutation)
    # or "replica_set" (rows whose partitions live on the same replicas: the coordinator is one of them, so the
    # batch fans out to no extra node; far fewer requests when rows are spread over many partitions).
    batch_rows: int = 50
    # A batch also closes before it holds more than this many KiB of values (a row larger goes alone): Cassandra
    # refuses a batch over `batch_size_fail_threshold` (50 KiB by default), and would refuse it on every replay.
    batch_max_kib: int = 40
    batch_grouping: str = "replica_set"
    consistency: str = "LOCAL_QUORUM"
    request_timeout_s: float = 10.0
    connect_timeout_s: float = 10.0
    # A write that fails because Cassandra is unreachable, overloaded or slow (no host, timeout, unavailable) is
    # sent again, with a backoff of up to 2 s, for this long before its tuple fails (0: fail at once). Writes are
    # idempotent upserts, so sending one twice is harmless. Keep it below topology.message.timeout.secs.
    write_retry_s: float = 60.0
    # Longest wait between the driver's attempts to reconnect to a node that went down (it doubles from 0.5 s).
    reconnect_max_s: float = 5.0
    local_dc: str = ""  # empty: the datacenter of the first contact point
    protocol_version: int = 5  # Cassandra 4/5 speak v5; 0 lets the driver negotiate (it logs each downgrade)
    # Security (docs/kafka-cassandra.md#secured-clusters): PasswordAuthenticator credentials and client TLS.
    # The password is never a value here: `password_env` names an environment variable, `password_file` a file.
    username: str = ""
    password_env: str = ""
    password_file: str = ""
    ssl: bool = False  # TLS to the native port (client_encryption_options)
    ssl_cafile: str = ""  # PEM CA bundle that signed the nodes' certificates (empty: the system's CAs)
    ssl_certfile: str = ""  # PEM client certificate, when the nodes require one
    ssl_keyfile: str = ""  # PEM key of that certificate
    ssl_check_hostname: bool = True

    @property
    def password(self) -> SecretRef | None:
        """Where the password lives (None without a username); `.resolve()` reads it."""
        if not self.username:
            return None
        return SecretRef(f"{SECTION}.password", env=self.password_env, file=self.password_file)

    def check_credentials(self) -> None:
        """ConfigError naming the key and the fix when the password or a TLS file cannot be read now."""
        check_credentials(self, self.password, _FILE_KEYS, SECTION)

    @classmethod
    def from_section(cls, section: Any, root: Path | None = None) -> CassandraSettings:
        pipeline: dict[str, Any] = {"cassandra": section}
        if root is not None:
            pipeline["project_root"] = str(root)
        return cls.from_pipeline(pipeline)

    @classmethod
    def from_pipeline(cls, pipeline: Any) -> CassandraSettings:
        """From a whole pipeline settings dict (its `cassandra` key), the section itself, or a CassandraSettings."""
        if isinstance(pipeline, CassandraSettings):
            return pipeline
        typed = getattr(pipeline, "cassandra", None)  # a squall.pipeline.settings.PipelineSettings
        if isinstance(typed, CassandraSettings):
            return typed
        if not isinstance(pipeline, Mapping):
            raise ConfigError(SECTION, f"must be an object, got {type(pipeline).__name__}")
        section = pipeline.get("cassandra", pipeline)
        root = pipeline.get("project_root") if "cassandra" in pipeline else None
        if section is None:
            section = {}
        if not isinstance(section, Mapping):
            raise ConfigError(SECTION, f"must be an object, got {type(section).__name__}")
        secret_ref(section, "password", SECTION)  # a literal password: refused with how to do it instead
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, value in section.items():
            where = f"{SECTION}.{key}"
            if key not in known:
                raise ConfigError(where, "unknown key", f"use one of: {', '.join(sorted(known))}")
            if key == "contact_points":
                if isinstance(value, str):
                    value = [v.strip() for v in value.split(",") if v.strip()]
                if (
                    not isinstance(value, list | tuple)
                    or not value
                    or not all(isinstance(v, str) for v in value)
                ):
                    raise ConfigError(where, f"{value!r} is not a list of hosts", 'use ["127.0.0.1"]')
                value = tuple(value)
            elif key == "protocol_version":
                if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 6:
                    raise ConfigError(
                        where, f"{value!r} is not a protocol version", "use 3, 4, 5, or 0 to negotiate"
                    )
            elif key in ("port", "max_in_flight", "batch_rows", "batch_max_kib"):
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    raise ConfigError(where, f"{value!r} is not valid", "use an integer >= 1")
            elif key in ("request_timeout_s", "connect_timeout_s", "reconnect_max_s"):
                if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                    raise ConfigError(where, f"{value!r} is not valid", "use a number of seconds > 0")
                value = float(value)
            elif key == "write_retry_s":
                if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                    raise ConfigError(
                        where, f"{value!r} is not valid", "use a number of seconds >= 0 (0: no retries)"
                    )
                value = float(value)
            elif key == "replication":
                value = _replication(value, where)
            elif key == "consistency":
                if not isinstance(value, str) or value.upper() not in CONSISTENCY_LEVELS:
                    raise ConfigError(
                        where, f"{value!r} is not a consistency level", f"use one of {CONSISTENCY_LEVELS}"
                    )
                value = value.upper()
            elif key == "batch_grouping":
                if value not in ("partition", "replica_set"):
                    raise ConfigError(
                        where, f"{value!r} is not a batch grouping", 'use "partition" or "replica_set"'
                    )
            elif key in ("keyspace", "local_dc"):
                if not isinstance(value, str) or (key == "keyspace" and not _NAME.match(value)):
                    raise ConfigError(
                        where, f"{value!r} is not a valid name", "use letters, digits and _, max 48"
                    )
            elif key in _STRING_KEYS:
                if not isinstance(value, str):
                    raise ConfigError(where, f"{value!r} is not a string")
                if key in ("password_file", *_FILE_KEYS):
                    value = absolute(value, Path(root) if isinstance(root, str) and root else None)
            elif key in ("ssl", "ssl_check_hostname"):
                if not isinstance(value, bool):
                    raise ConfigError(where, f"{value!r} is not true/false")
            values[key] = value
        settings = cls(**values)
        settings._validate_security()
        return settings

    def _validate_security(self) -> None:
        has_password = bool(self.password_env or self.password_file)
        if self.password_env and self.password_file:
            raise ConfigError(
                f"{SECTION}.password", "both password_env and password_file are set", "keep one of them"
            )
        if self.username and not has_password:
            raise ConfigError(
                f"{SECTION}.password_env",
                f"username {self.username!r} is set but no password is configured",
                'set "password_env": "SQUALL_CASSANDRA_PASSWORD" or "password_file": "/run/secrets/cassandra"',
            )
        if has_password and not self.username:
            raise ConfigError(
                f"{SECTION}.username", "is empty but a password is configured", "give the role name"
            )
        if not self.ssl:
            for key in _FILE_KEYS:
                if getattr(self, key):
                    raise ConfigError(
                        f"{SECTION}.{key}", "is set but ssl is false", 'set "ssl": true to connect with TLS'
                    )
        if self.ssl_keyfile and not self.ssl_certfile:
            raise ConfigError(
                f"{SECTION}.ssl_keyfile", "is set without ssl_certfile", "give both, or neither"
            )


def _replication(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, Mapping) or "class" not in value:
        raise ConfigError(
            where,
            f"{value!r} is not a replication map",
            'use {"class": "SimpleStrategy", "replication_factor": 1}',
        )
    out: dict[str, Any] = {}
    for key, v in value.items():
        if not isinstance(key, str) or not re.match(r"^[A-Za-z0-9_.]+$", key):
            raise ConfigError(f"{where}.{key}", "is not a valid replication option name")
        if key == "class":
            if not isinstance(v, str) or not re.match(r"^[A-Za-z0-9_.]+$", v):
                raise ConfigError(
                    f"{where}.class",
                    f"{v!r} is not a strategy class",
                    "use SimpleStrategy or NetworkTopologyStrategy",
                )
        elif isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ConfigError(f"{where}.{key}", f"{v!r} is not a replication factor", "use an integer >= 1")
        out[key] = v
    return out
