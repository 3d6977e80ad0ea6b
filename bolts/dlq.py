"""DeadLetterBolt: invalid and late events -> the dead-letter topic (publisher) and persist."""

from __future__ import annotations

from typing import Any

from streamparse import Bolt

from squall.pipeline.publishing import DeadLetterPublisher, dead_letter_from_invalid, dead_letter_from_late
from squall.pipeline.settings import from_conf
from squall.pipeline.tuples import RECORD_FIELDS, record_values


class DeadLetterBolt(Bolt):  # type: ignore[misc]
    outputs = RECORD_FIELDS

    def initialize(self, conf: dict[str, Any], ctx: dict[str, Any]) -> None:
        self.publisher = DeadLetterPublisher(from_conf(conf))

    def process(self, tup: Any) -> None:
        if tup.stream == "late":
            dl = dead_letter_from_late(tup.values, self.publisher.clock.wall_ms())
        else:
            dl = dead_letter_from_invalid(tup.values, self.publisher.clock.wall_ms())
        self.publisher.publish(dl)  # raises if the publisher failed: the tuple fails and replays
        self.emit(record_values("dead_letter", [dl]))
