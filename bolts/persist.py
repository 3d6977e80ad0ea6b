"""PersistBolt: writes records through the configured Store; acks only after the write succeeded."""

from __future__ import annotations

from typing import Any

from streamparse import Bolt

from squall.pipeline.persisting import WriteWindow
from squall.pipeline.settings import from_conf, section
from squall.pipeline.stores import make_store
from squall.pipeline.tuples import record_from_values


class PersistBolt(Bolt):  # type: ignore[misc]
    auto_ack = False
    outputs: list[str] = []

    def initialize(self, conf: dict[str, Any], ctx: dict[str, Any]) -> None:
        settings = from_conf(conf)
        self.store = make_store(settings)
        timeout = float(section(settings, "persist").get("write_timeout_s", 30.0))
        self.writes = WriteWindow(self.store.max_in_flight, self.ack, self._failed, timeout)

    def process(self, tup: Any) -> None:
        if tup.stream == "archive":
            kind, record = "event", record_from_values("event", tup.values[2])
        else:
            kind, record = tup.values[0], record_from_values(tup.values[0], tup.values[1])
        self.writes.add([self.store.write(kind, record)], tup.id)

    def process_tick(self, tup: Any) -> None:
        self.writes.settle()
        self.ack(tup)

    def _failed(self, token: Any, exc: BaseException) -> None:
        self.logger.warning("write failed, tuple %s fails and will be replayed: %s", token, exc)
        self.fail(token)
