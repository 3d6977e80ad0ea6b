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
