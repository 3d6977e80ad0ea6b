"""Where persist writes and where alerts/dead letters are published, chosen by config.

- Store by `pipeline.sink`: "sqlite" => SqliteStore (embedded default), "cassandra" =>
  squall.cassandra.store.CassandraStore(settings) (imported lazily).
- Publisher by `pipeline.publisher` (default: "kafka" when the source is kafka, else "embedded"):
  "kafka" => squall.kafka.publisher.KafkaPublisher(settings), "embedded" => EmbeddedPublisher (SQLite).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from squall.errors import ConfigError
from squall.pipeline.model import Publisher, Store

STORES = {
    "sqlite": "squall.pipeline.sqlite_store:SqliteStore",
    "cassandra": "squall.cassandra.store:CassandraStore",
}
PUBLISHERS = {
    "embedded": "squall.pipeline.sqlite_store:EmbeddedPublisher",
    "kafka": "squall.kafka.publisher:KafkaPublisher",
}


def _load(target: str) -> Any:
    module, attr = target.split(":")
    return getattr(importlib.import_module(module), attr)


def make_store(settings: Mapping[str, Any]) -> Store:
    name = settings.get("sink", "sqlite")
    if name not in STORES:
        raise ConfigError("pipeline.sink", f"{name!r} is not a sink", f"use one of {sorted(STORES)}")
    store: Store = _load(STORES[str(name)])(dict(settings))
    return store


def publisher_name(settings: Mapping[str, Any]) -> str:
    default = "kafka" if settings.get("source") == "kafka" else "embedded"
    return str(settings.get("publisher", default))


def make_publisher(settings: Mapping[str, Any]) -> Publisher:
    name = publisher_name(settings)
    if name not in PUBLISHERS:
        raise ConfigError(
            "pipeline.publisher", f"{name!r} is not a publisher", f"use one of {sorted(PUBLISHERS)}"
        )
    publisher: Publisher = _load(PUBLISHERS[name])(dict(settings))
    return publisher
