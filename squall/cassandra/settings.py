"""The `pipeline.cassandra` section of config.json, validated into one frozen object."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from squall.errors import ConfigError

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
    batch_grouping: str = "replica_set"
    consistency: str = "LOCAL_QUORUM"
    request_timeout_s: float = 10.0
    connect_timeout_s: float = 10.0
    local_dc: str = ""  # empty: the datacenter of the first contact point
    protocol_version: int = 5  # Cassandra 4/5 speak v5; 0 lets the driver negotiate (it logs each downgrade)

    @classmethod
    def from_section(cls, section: Any) -> CassandraSettings:
        return cls.from_pipeline({"cassandra": section})

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
        if section is None:
            section = {}
        if not isinstance(section, Mapping):
            raise ConfigError(SECTION, f"must be an object, got {type(section).__name__}")
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
            elif key in ("port", "max_in_flight", "batch_rows"):
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    raise ConfigError(where, f"{value!r} is not valid", "use an integer >= 1")
            elif key in ("request_timeout_s", "connect_timeout_s"):
                if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                    raise ConfigError(where, f"{value!r} is not valid", "use a number of seconds > 0")
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
            values[key] = value
        return cls(**values)


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
