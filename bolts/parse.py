"""ParseBolt: a batch of original messages -> validated events by device shard, or dead letters.

Input: one spout batch (topic, partition, packed messages). Valid events go out on the default stream as one
packed batch per device shard (BATCH_FIELDS, arrival order kept); each invalid message goes out alone on `invalid` with its
original bytes, its source and a reason. All emits are anchored to the input batch (auto-anchoring), which is
acked after `process` returns. Bad input never raises: it becomes a dead letter.
"""

from __future__ import annotations

from typing import Any

from streamparse import Bolt, Stream

from squall.pipeline.parse import Parser
from squall.pipeline.settings import from_conf
from squall.pipeline.tuples import (
    BATCH_FIELDS,
    INVALID_FIELDS,
    bytes_to_text,
    event_entry,
    pack_batch,
    packs_binary,
    shard_count,
    shard_of,
    text_to_bytes,
    unpack_batch,
)


class ParseBolt(Bolt):  # type: ignore[misc]
    outputs = [Stream(BATCH_FIELDS, "default"), Stream(INVALID_FIELDS, "invalid")]

    def initialize(self, conf: dict[str, Any], ctx: dict[str, Any]) -> None:
        settings = from_conf(conf)
        self.parser = Parser(settings)
        self.shards = shard_count(settings)
        self.binary = packs_binary(self)

    def process(self, tup: Any) -> None:
        topic, partition, messages = tup.values
        topic, partition = str(topic), int(partition)
        by_shard: dict[int, list[Any]] = {}
        parse, shards = self.parser.parse, self.shards
        for offset, payload in unpack_batch(messages):
            source = (topic, partition, int(offset))
            parsed = parse(text_to_bytes(payload), source)
            event = parsed.event
            if event is not None:
                shard = shard_of(event.tenant, event.device_id, shards)
                entries = by_shard.get(shard)
                if entries is None:
                    entries = by_shard[shard] = []
                entries.append(event_entry(event, source))
            elif parsed.dead_letter is not None:
                dl = parsed.dead_letter
                self.emit([dl.reason, dl.detail, bytes_to_text(dl.payload), list(source)], stream="invalid")
        for shard, entries in by_shard.items():
            self.emit([shard, pack_batch(entries, self.binary)])
