"""RouteBolt: sends each event of a shard batch to the named streams whose rule (config.json pipeline.routing)
matches; per output stream one packed batch tuple (same shard, arrival order kept)."""

from __future__ import annotations

from typing import Any

from streamparse import Bolt, Stream

from squall.pipeline.routing import STREAMS, parse_rules, route_fields
from squall.pipeline.settings import from_conf, section
from squall.pipeline.tuples import BATCH_FIELDS, pack_batch, packs_binary, unpack_batch


class RouteBolt(Bolt):  # type: ignore[misc]
    outputs = [Stream(BATCH_FIELDS, name) for name in STREAMS]

    def initialize(self, conf: dict[str, Any], ctx: dict[str, Any]) -> None:
        self.rules = parse_rules(section(from_conf(conf), "routing"))
        self.binary = packs_binary(self)

    def process(self, tup: Any) -> None:
        shard, packed = tup.values
        entries = unpack_batch(packed)
        by_stream: dict[str, list[Any]] = {}
        rules = self.rules
        for entry in entries:
            event = entry[0]  # the validated event dict parse emitted: read in place, no copy
            for stream in route_fields(event["type"], event["tenant"], event["metrics"], rules):
                routed = by_stream.get(stream)
                if routed is None:
                    routed = by_stream[stream] = []
                routed.append(entry)
        for stream, routed in by_stream.items():
            # a stream that takes the whole batch (e.g. archive) gets the input's packed value as it is
            value = packed if len(routed) == len(entries) else pack_batch(routed, self.binary)
            self.emit([shard, value], stream=stream)
