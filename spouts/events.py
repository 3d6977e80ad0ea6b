"""EventSpout: emits device messages from the configured EventSource (simulator or Kafka), reliably."""

from __future__ import annotations

from typing import Any

from streamparse import Spout

from squall.pipeline.settings import from_conf
from squall.pipeline.sources import check_source_settings, make_source
from squall.pipeline.tuples import SPOUT_FIELDS, bytes_to_text


class EventSpout(Spout):  # type: ignore[misc]
    outputs = SPOUT_FIELDS

    def initialize(self, stormconf: dict[str, Any], context: dict[str, Any]) -> None:
        component = context.get("componentid", "events")
        task_ids = sorted(int(t) for t, c in (context.get("task->component") or {}).items() if c == component)
        task_id = int(context.get("taskid", 0))
        index = task_ids.index(task_id) if task_id in task_ids else 0
        settings = from_conf(stormconf)
        check_source_settings(settings, stormconf, max(1, len(task_ids)))
        self.source = make_source(settings, index, max(1, len(task_ids)))

    def next_tuple(self) -> None:
        polled = self.source.poll()
        if polled is not None:
            msg_id, payload, topic, partition, offset = polled
            self.emit([bytes_to_text(payload), topic, partition, offset], tup_id=msg_id)

    def ack(self, tup_id: Any) -> None:
        self.source.ack(tup_id)

    def fail(self, tup_id: Any) -> None:
        self.source.fail(tup_id)

    def activate(self) -> None:
        self.source.activate()

    def deactivate(self) -> None:
        self.source.deactivate()
