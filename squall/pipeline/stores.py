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

from squall.pipeline.model import Publisher, Store
from squall.pipeline.settings import PipelineSettings

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


def make_store(settings: PipelineSettings | Mapping[str, Any]) -> Store:
    typed = PipelineSettings.of(settings)
    store: Store = _load(STORES[typed.sink])(typed)
    return store


def publisher_name(settings: PipelineSettings | Mapping[str, Any]) -> str:
    return PipelineSettings.of(settings).publisher


def make_publisher(settings: PipelineSettings | Mapping[str, Any]) -> Publisher:
    typed = PipelineSettings.of(settings)
    publisher: Publisher = _load(PUBLISHERS[typed.publisher])(typed)
    return publisher


def check_credentials(settings: Mapping[str, Any]) -> None:
    """Before anything starts: the passwords and TLS files of the Kafka and Cassandra clients this pipeline will
    make can be read (ConfigError naming the key and the fix otherwise). The tasks read them again when they
    connect; the Storm conf carries only the variable names and file paths."""
    if settings.get("source") == "kafka" or publisher_name(settings) == "kafka":
        from squall.kafka.settings import KafkaSettings

        KafkaSettings.from_pipeline(settings).check_credentials()
    if settings.get("sink") == "cassandra":
        from squall.cassandra.settings import CassandraSettings

        CassandraSettings.from_pipeline(settings).check_credentials()
