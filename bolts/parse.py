"""ParseBolt: original bytes -> validated event (default stream) or dead letter (`invalid` stream)."""

from __future__ import annotations

from typing import Any

from streamparse import Bolt, Stream

from squall.pipeline.parse import Parser
from squall.pipeline.settings import from_conf
from squall.pipeline.tuples import EVENT_FIELDS, INVALID_FIELDS, bytes_to_text, event_values, text_to_bytes


class ParseBolt(Bolt):  # type: ignore[misc]
    outputs = [Stream(EVENT_FIELDS, "default"), Stream(INVALID_FIELDS, "invalid")]

    def initialize(self, conf: dict[str, Any], ctx: dict[str, Any]) -> None:
        self.parser = Parser(from_conf(conf))

    def process(self, tup: Any) -> None:
        payload, topic, partition, offset = tup.values
        source = (str(topic), int(partition), int(offset))
        parsed = self.parser.parse(text_to_bytes(payload), source)
        if parsed.event is not None:
            self.emit(event_values(parsed.event, source))
        elif parsed.dead_letter is not None:
            dl = parsed.dead_letter
            self.emit([dl.reason, dl.detail, bytes_to_text(dl.payload), list(source)], stream="invalid")
