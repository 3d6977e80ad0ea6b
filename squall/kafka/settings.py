"""The `pipeline.kafka` section of config.json, validated into one frozen object.

Every key has a default, so `"kafka": {}` works against a broker on 127.0.0.1:9092. A bad value raises
ConfigError naming `pipeline.kafka.<key>`, the value and the fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from squall.errors import ConfigError
from squall.kafka.retry import BackoffPolicy
from squall.secrets import SecretRef, absolute, check_credentials, secret_ref

START_POSITIONS = ("committed", "earliest", "latest")
FORMATS = ("json", "msgpack", "auto")
SECTION = "pipeline.kafka"
SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN")
FILE_KEYS = ("ssl_cafile", "ssl_certfile", "ssl_keyfile")


@dataclass(frozen=True)
class KafkaSettings:
    bootstrap_servers: str = "127.0.0.1:9092"
    events_topic: str = "iot.events"
    dlq_topic: str = "iot.dlq"
    alerts_topic: str = "iot.alerts"
    group_id: str = "squall-iot"
    start: str = "committed"  # committed (else earliest) | earliest | latest, on a task's first assignment
    max_retries: int | None = None  # None (null): retry forever, as storm-kafka-client by default
    backoff_initial_s: float = 0.0
    backoff_period_s: float = 0.5
    backoff_max_s: float = 10.0
    max_uncommitted: int = 10_000  # per partition; the partition is paused when reached
    commit_interval_s: float = 1.0
    partition_refresh_s: float = 30.0
    max_poll_records: int = 500
    fetch_partition_bytes: int = (
        65_536  # small per-partition fetches keep partitions interleaved (see source.py)
    )
    poll_timeout_ms: int = 100
    # The broker answers a fetch once it has this many bytes for it, or after fetch_max_wait_ms (Kafka's
    # fetch.min.bytes / fetch.max.wait.ms). At a trickle this trades up to fetch_max_wait_ms of latency for
    # batches of a useful size: a tuple costs every bolt about the same whether it carries 10 events or 500
    # (docs/pipeline.md#cost-per-event). Capped at fetch_partition_bytes (`fetch_min`), so that a fetch of one
    # partition's backlog is always enough and never waits.
    fetch_min_bytes: int = 65_536
    fetch_max_wait_ms: int = 500
    request_timeout_s: float = 30.0
    format: str = "auto"  # json | msgpack | auto: how events are encoded (simulate) / detected (parse)
    partitions: int = 4  # when squall creates the events topic
    # Publishers (dead letters, alerts) send a trickle, and kafka-python 3.0.12 costs ~1.8 ms of CPU per
    # produce request here whatever it carries (~50 us a record when batched): at 100 records/s a 5 ms linger
    # takes 18% of a core, 50 ms 6% (python -m bench.producer_linger; bench/results/producer_linger-*.json).
    linger_ms: int = 50
    # Security (docs/kafka-cassandra.md#secured-clusters). The password is never a value here: `password_env`
    # names an environment variable, `password_file` a file holding it (read when a client connects).
    security_protocol: str = "PLAINTEXT"  # PLAINTEXT | SSL | SASL_PLAINTEXT | SASL_SSL
    sasl_mechanism: str = "SCRAM-SHA-512"  # SCRAM-SHA-512 | SCRAM-SHA-256 | PLAIN (with SASL_*)
    username: str = ""
    password_env: str = ""
    password_file: str = ""
    ssl_cafile: str = ""  # PEM CA bundle that signed the brokers' certificates (empty: the system's CAs)
    ssl_certfile: str = ""  # PEM client certificate, when the brokers ask for one (mutual TLS)
    ssl_keyfile: str = ""  # PEM key of that certificate
    ssl_check_hostname: bool = True

    @property
    def fetch_min(self) -> int:
        """fetch_min_bytes as the consumer gets it: at most one partition's fetch (fetch_partition_bytes)."""
        return min(self.fetch_min_bytes, self.fetch_partition_bytes)

    @property
    def sasl(self) -> bool:
        return self.security_protocol.startswith("SASL_")

    @property
    def tls(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    @property
    def password(self) -> SecretRef | None:
        """Where the SASL password lives (None without SASL); `.resolve()` reads it."""
        if not self.sasl:
            return None
        return SecretRef(f"{SECTION}.password", env=self.password_env, file=self.password_file)

    def check_credentials(self) -> None:
        """ConfigError naming the key and the fix when the password or a TLS file cannot be read now."""
        check_credentials(self, self.password, FILE_KEYS, SECTION)

    @property
    def backoff(self) -> BackoffPolicy:
        return BackoffPolicy(
            initial_s=self.backoff_initial_s,
            period_s=self.backoff_period_s,
            max_delay_s=self.backoff_max_s,
            max_retries=self.max_retries,
        )

    @property
    def servers(self) -> list[str]:
        return [s.strip() for s in self.bootstrap_servers.split(",") if s.strip()]

    def with_topics(self, **topics: Any) -> KafkaSettings:
        return replace(self, **topics)

    @classmethod
    def from_pipeline(cls, pipeline: Any) -> KafkaSettings:
        """From a whole pipeline settings dict (its `kafka` key), a `kafka` section itself, or a KafkaSettings."""
        if isinstance(pipeline, KafkaSettings):
            return pipeline
        typed = getattr(pipeline, "kafka", None)  # a squall.pipeline.settings.PipelineSettings
        if isinstance(typed, KafkaSettings):
            return typed
        if not isinstance(pipeline, Mapping):
            raise ConfigError(SECTION, f"must be an object, got {type(pipeline).__name__}")
        section = pipeline.get("kafka", pipeline)
        root = pipeline.get("project_root") if "kafka" in pipeline else None
        return cls.from_section(section, Path(root) if isinstance(root, str) and root else None)

    @classmethod
    def from_section(cls, section: Any, root: Path | None = None) -> KafkaSettings:
        """`root` (the project folder) makes relative file paths (password_file, ssl_*file) absolute."""
        if section is None:
            section = {}
        if not isinstance(section, Mapping):
            raise ConfigError(
                SECTION, f"must be an object, got {type(section).__name__}", 'write "kafka": {...}'
            )
        secret_ref(section, "password", SECTION)  # a literal password: refused with how to do it instead
        known = {f.name: f for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, value in section.items():
            if key not in known:
                raise ConfigError(
                    f"{SECTION}.{key}", "unknown key", f"use one of: {', '.join(sorted(known))}"
                )
            default = known[key].default
            if key == "max_retries" and value is None:
                values[key] = None  # retry forever
                continue
            values[key] = _check(key, value, int if key == "max_retries" else type(default))
        for key in ("password_file", *FILE_KEYS):
            if key in values:
                values[key] = absolute(values[key], root)
        settings = cls(**values)
        settings._validate()
        return settings

    def _validate(self) -> None:
        if self.start not in START_POSITIONS:
            raise ConfigError(
                f"{SECTION}.start", f"{self.start!r} is not a start position", f"use one of {START_POSITIONS}"
            )
        if self.format not in FORMATS:
            raise ConfigError(
                f"{SECTION}.format", f"{self.format!r} is not a format", f"use one of {FORMATS}"
            )
        if not self.servers:
            raise ConfigError(f"{SECTION}.bootstrap_servers", "is empty", 'use "host:port[,host:port]"')
        for server in self.servers:
            host, sep, port = server.rpartition(":")
            if not sep or not host or not port.isdigit():
                raise ConfigError(
                    f"{SECTION}.bootstrap_servers", f"{server!r} is not host:port", 'use "127.0.0.1:9092"'
                )
        self._validate_security()
        for key in ("events_topic", "dlq_topic", "alerts_topic", "group_id"):
            if not getattr(self, key):
                raise ConfigError(f"{SECTION}.{key}", "is empty", "give it a name")
        positive = (
            "max_uncommitted",
            "max_poll_records",
            "fetch_partition_bytes",
            "fetch_min_bytes",
            "partitions",
            "commit_interval_s",
            "request_timeout_s",
        )
        for key in positive:
            if getattr(self, key) <= 0:
                raise ConfigError(f"{SECTION}.{key}", f"{getattr(self, key)!r} must be > 0")
        if self.max_retries is not None and self.max_retries < 0:
            raise ConfigError(
                f"{SECTION}.max_retries",
                f"{self.max_retries!r} must be >= 0",
                "write null to retry forever (the default), or the re-emits before a dead letter",
            )
        for key in (
            "backoff_initial_s",
            "backoff_period_s",
            "backoff_max_s",
            "poll_timeout_ms",
            "fetch_max_wait_ms",
            "partition_refresh_s",
            "linger_ms",
        ):
            if getattr(self, key) < 0:
                raise ConfigError(f"{SECTION}.{key}", f"{getattr(self, key)!r} must be >= 0")

    def _validate_security(self) -> None:
        if self.security_protocol not in SECURITY_PROTOCOLS:
            raise ConfigError(
                f"{SECTION}.security_protocol",
                f"{self.security_protocol!r} is not a security protocol",
                f"use one of {SECURITY_PROTOCOLS}",
            )
        if self.sasl_mechanism not in SASL_MECHANISMS:
            raise ConfigError(
                f"{SECTION}.sasl_mechanism",
                f"{self.sasl_mechanism!r} is not a SASL mechanism squall supports",
                f"use one of {SASL_MECHANISMS}",
            )
        has_password = bool(self.password_env or self.password_file)
        if self.sasl:
            if not self.username:
                raise ConfigError(
                    f"{SECTION}.username", "is empty", f"{self.security_protocol} needs the SASL user name"
                )
            if not has_password:
                raise ConfigError(
                    f"{SECTION}.password_env",
                    f"{self.security_protocol} needs a password and none is configured",
                    'set "password_env": "SQUALL_KAFKA_PASSWORD" or "password_file": "/run/secrets/kafka"',
                )
            if self.password_env and self.password_file:
                raise ConfigError(
                    f"{SECTION}.password", "both password_env and password_file are set", "keep one of them"
                )
        elif self.username or has_password:
            key = "username" if self.username else ("password_env" if self.password_env else "password_file")
            raise ConfigError(
                f"{SECTION}.{key}",
                f"is set but security_protocol is {self.security_protocol!r}, which sends no credentials",
                'set "security_protocol": "SASL_SSL" (or SASL_PLAINTEXT)',
            )
        if not self.tls:
            for key in FILE_KEYS:
                if getattr(self, key):
                    raise ConfigError(
                        f"{SECTION}.{key}",
                        f"is set but security_protocol is {self.security_protocol!r}, which does not use TLS",
                        'set "security_protocol": "SASL_SSL" or "SSL"',
                    )
        if self.ssl_keyfile and not self.ssl_certfile:
            raise ConfigError(
                f"{SECTION}.ssl_keyfile", "is set without ssl_certfile", "give both, or neither"
            )


def _check(key: str, value: Any, want: type) -> Any:
    where = f"{SECTION}.{key}"
    if want is bool:
        if not isinstance(value, bool):
            raise ConfigError(where, f"{value!r} is not true/false")
        return value
    if want is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(where, f"{value!r} is not an integer", "write a whole number")
        return value
    if want is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(where, f"{value!r} is not a number", "write seconds as a number")
        return float(value)
    if want is str:
        if not isinstance(value, str):
            raise ConfigError(where, f"{value!r} is not a string")
        return value
    return value
