"""RouteBolt: sends each event to the named streams whose rule (config.json pipeline.routing) matches."""

from __future__ import annotations

from typing import Any

from streamparse import Bolt, Stream

from squall.pipeline.routing import STREAMS, parse_rules, route_fields
from squall.pipeline.settings import from_conf, section
from squall.pipeline.tuples import EVENT_FIELDS


class RouteBolt(Bolt):  # type: ignore[misc]
    outputs = [Stream(EVENT_FIELDS, name) for name in STREAMS]

    def initialize(self, conf: dict[str, Any], ctx: dict[str, Any]) -> None:
        self.rules = parse_rules(section(from_conf(conf), "routing"))

    def process(self, tup: Any) -> None:
        values = tup.values
        event = values[2]  # the validated event dict parse emitted: read in place, no copy
        for stream in route_fields(event["type"], event["tenant"], event["metrics"], self.rules):
            self.emit(values, stream=stream)
