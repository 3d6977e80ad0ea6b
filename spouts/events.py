"""EventSpout: emits device messages from the configured EventSource (simulator or Kafka), reliably.

Each `next_tuple` emits up to `pipeline.spout.batch_size` messages the source has now (one multilang round trip
for the batch instead of one per event, as Python multilang spouts commonly do); every emit carries its own
msg id, so ack/fail/replay stay per message.
"""

from __future__ import annotations

from typing import Any

from streamparse import Spout

from squall.pipeline.settings import from_conf
from squall.pipeline.sources import check_source_settings, make_source, spout_batch_size
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
        self.batch_size = spout_batch_size(settings)
        self.source = make_source(settings, index, max(1, len(task_ids)))

    def next_tuple(self) -> None:
        poll, emit = self.source.poll, self.emit
        for _ in range(self.batch_size):
            polled = poll()
            if polled is None:
                return
            msg_id, payload, topic, partition, offset = polled
            emit([bytes_to_text(payload), topic, partition, offset], tup_id=msg_id)

    def ack(self, tup_id: Any) -> None:
        self.source.ack(tup_id)

    def fail(self, tup_id: Any) -> None:
        self.source.fail(tup_id)

    def activate(self) -> None:
        self.source.activate()

    def deactivate(self) -> None:
        self.source.deactivate()
