"""ParseBolt: a batch of original messages -> validated events by device shard, or dead letters.

Input: one spout batch (topic, partition, packed messages). Valid events go out on the default stream as one
packed batch per device shard (BATCH_FIELDS, arrival order kept); each invalid message goes out alone on `invalid`
with its original bytes (an oversized one with its prefix, size and SHA-256), its source and a reason. All emits
are anchored to the input batch (auto-anchoring), which is acked after `process` returns. Bad input never raises:
whatever fails for one message dead-letters that message, and its batch-mates go on.
"""

from __future__ import annotations

from typing import Any

from streamparse import Bolt, Stream

from squall.pipeline.collector import tune_collector
from squall.pipeline.dead_letters import coordinates, invalid_values, processing_error
from squall.pipeline.model import DeadLetter
from squall.pipeline.parse import Parser
from squall.pipeline.settings import from_conf
from squall.pipeline.tuples import (
    BATCH_FIELDS,
    INVALID_FIELDS,
    Letters,
    pack_batch,
    packs_binary,
    shard_of,
    shards_for,
    text_to_bytes,
    unpack_batch,
)


class ParseBolt(Bolt):  # type: ignore[misc]
    outputs = [Stream(BATCH_FIELDS, "default"), Stream(INVALID_FIELDS, "invalid")]

    def initialize(self, conf: dict[str, Any], ctx: dict[str, Any]) -> None:
        settings = from_conf(conf)
        tune_collector()
        self.parser = Parser(settings)
        self.shards = shards_for(settings, ctx)
        self.binary = packs_binary(self)
        self.letters = Letters(self)

    def process(self, tup: Any) -> None:
        topic, partition, messages = tup.values
        topic, partition = str(topic), int(partition)
        by_shard: dict[int, list[Any]] = {}
        for message in unpack_batch(messages):
            try:
                self.parse_one(message, topic, partition, by_shard)
            except Exception as exc:  # noqa: BLE001 - one message never stops the stream
                self.parser.counts["errors"] += 1
                payload, source = _parts(message, topic, partition)
                self.emit_dead_letter(
                    processing_error("parse", exc, payload, source, self.parser.clock.wall_ms())
                )
        for shard, entries in by_shard.items():
            packed = self.pack(entries)
            if packed is not None:
                self.emit([shard, packed])
        self.letters.flush()  # one tuple for all of this batch's dead letters (auto-anchored to it)

    def parse_one(
        self, message: list[Any], topic: str, partition: int, by_shard: dict[int, list[Any]]
    ) -> None:
        offset = int(message[0])
        source = (topic, partition, offset)
        if len(message) == 4:  # [offset, prefix, size, sha256]: the spout cut an oversized payload
            letter = self.parser.oversized(
                text_to_bytes(message[1]), int(message[2]), str(message[3]), source
            ).dead_letter
            if letter is not None:
                self.emit_dead_letter(letter)
            return
        payload = message[1]
        outcome = self.parser.entry(payload if type(payload) is bytes else text_to_bytes(payload), source)
        if type(outcome) is dict:
            tenant, device_id = outcome["tenant"], outcome["device_id"]
            shard = shard_of(tenant, device_id, self.shards)
            entries = by_shard.get(shard)
            if entries is None:
                entries = by_shard[shard] = []
            fields = [  # the event's fields in EVENT_KEYS order, as tuples.event_entry lays them out
                tenant,
                device_id,
                outcome["event_id"],
                outcome["ts"],
                outcome["type"],
                outcome["metrics"],
                outcome["attrs"],
            ]
            entries.append([fields, [topic, partition, offset]])
        elif outcome is not None:
            self.emit_dead_letter(outcome)

    def emit_dead_letter(self, dl: DeadLetter) -> None:
        source = [dl.source_topic, dl.source_partition, dl.source_offset]
        self.letters.add([dl.reason, dl.detail, dl.payload, source])

    def pack(self, entries: list[Any]) -> bytes | str | None:
        """The packed batch; an entry that cannot be packed (validation should have refused it) is dead-lettered
        alone and the rest go on."""
        try:
            return pack_batch(entries, self.binary)
        except Exception:  # noqa: BLE001 - find the entries at fault, one by one
            kept = []
            for entry in entries:
                try:
                    pack_batch([entry], self.binary)
                except Exception as exc:  # noqa: BLE001
                    self.parser.counts["errors"] += 1
                    self.letters.add(invalid_values("parse", exc, entry))
                else:
                    kept.append(entry)
            return pack_batch(kept, self.binary) if kept else None


def _parts(message: Any, topic: str, partition: int) -> tuple[bytes, tuple[str, int, int]]:
    """(payload bytes, source) of a message as far as it can be read, for its dead letter."""
    try:
        payload = text_to_bytes(message[1])
    except Exception:  # noqa: BLE001
        payload = repr(message).encode("utf-8", "backslashreplace")
    try:
        offset = message[0]
    except Exception:  # noqa: BLE001
        offset = None
    return payload, coordinates((topic, partition, offset), (topic, partition, -1))
