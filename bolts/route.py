"""RouteBolt: sends each event to the named streams whose rule (config.json pipeline.routing) matches."""

from __future__ import annotations

from typing import Any

from streamparse import Bolt, Stream

from squall.pipeline.events import event_from_dict
from squall.pipeline.routing import STREAMS, parse_rules, route
from squall.pipeline.settings import from_conf, section
from squall.pipeline.tuples import EVENT_FIELDS


class RouteBolt(Bolt):  # type: ignore[misc]
    outputs = [Stream(EVENT_FIELDS, name) for name in STREAMS]

    def initialize(self, conf: dict[str, Any], ctx: dict[str, Any]) -> None:
        self.rules = parse_rules(section(from_conf(conf), "routing"))

    def process(self, tup: Any) -> None:
        event = event_from_dict(tup.values[2])
        for stream in route(event, self.rules):
            self.emit(list(tup.values), stream=stream)
