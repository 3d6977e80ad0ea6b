"""RouteBolt: sends each event of a shard batch to the named streams whose rule (config.json pipeline.routing)
matches; per output stream one packed batch tuple (same shard, arrival order kept). An event whose routing raises
is dead-lettered alone on `invalid` (processing_error:route:<type>)."""

from __future__ import annotations

from typing import Any

from streamparse import Bolt, Stream

from squall.pipeline.collector import tune_collector
from squall.pipeline.dead_letters import invalid_values
from squall.pipeline.model import METRICS, TENANT, TYPE
from squall.pipeline.routing import STREAMS, route_fields
from squall.pipeline.settings import from_conf
from squall.pipeline.tuples import (
    BATCH_FIELDS,
    INVALID_FIELDS,
    Letters,
    pack_batch,
    packs_binary,
    unpack_batch,
)


class RouteBolt(Bolt):  # type: ignore[misc]
    outputs = [*(Stream(BATCH_FIELDS, name) for name in STREAMS), Stream(INVALID_FIELDS, "invalid")]

    def initialize(self, conf: dict[str, Any], ctx: dict[str, Any]) -> None:
        self.rules = from_conf(conf).routing.rules
        tune_collector()
        self.binary = packs_binary(self)
        self.letters = Letters(self)

    def process(self, tup: Any) -> None:
        shard, packed = tup.values
        entries = unpack_batch(packed)
        by_stream: dict[str, list[Any]] = {}
        rules = self.rules
        whole = len(entries)  # events a stream must take for the input's packed value to serve it as it is
        for entry in entries:
            try:
                event = entry[0]  # the validated event fields parse emitted (EVENT_KEYS order): read in place
                streams = route_fields(event[TYPE], event[TENANT], event[METRICS], rules)
            except Exception as exc:  # noqa: BLE001 - one event never stops the stream
                self.letters.add(invalid_values("route", exc, entry))
                whole = -1  # the input's packed value holds an event no stream takes
                continue
            for stream in streams:
                routed = by_stream.get(stream)
                if routed is None:
                    routed = by_stream[stream] = []
                routed.append(entry)
        for stream, routed in by_stream.items():
            # a stream that takes the whole batch (e.g. archive) gets the input's packed value as it is
            value = packed if len(routed) == whole else pack_batch(routed, self.binary)
            self.emit([shard, value], stream=stream)
        self.letters.flush()
