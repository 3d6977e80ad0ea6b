"""The fields of the pipeline's streams and the conversions between records and tuple values.

Tuple values must survive both multilang serializers (JSON and msgpack), so records travel as plain dicts and
bytes as latin-1 strings (lossless: every byte maps to one code point).

Micro-batches (docs/pipeline.md, "Tuples carry micro-batches"): one multilang hop costs tens of microseconds
whatever the tuple holds, so the hot streams carry lists. The spout emits one tuple per Kafka partition and
`next_tuple` (`messages` = [[offset, payload], ...], its own msg id, acked/failed as a whole); parse re-groups
the valid events by `shard` = a stable hash of (tenant, device_id) (`events` = [[event fields, source], ...] in
arrival order, the event's fields positional in EVENT_KEYS order), so a fields grouping on `shard` keeps every event of a device on one task, in order, exactly as
a fields grouping on (tenant, device_id) does. Window and alert results travel as `records` lists.
Dead letters (invalid, late) stay one per tuple: they are rare and each carries its own bytes and reason.

Packed batches: the `messages` and `events` fields are one msgpack blob each (`pack_batch`), not nested lists.
Storm (and `squall run`) route a tuple by its grouping fields only, so the worker would otherwise decode and
re-encode every event of a batch at every hop for nothing; a blob crosses it as one opaque value, and each bolt
unpacks the batch once, in C. Under the msgpack serializer the blob is a bin value (bytes); under JSON, which
has no bytes, it is base64 text. `unpack_batch` takes either, and a plain list too, so a hand-written upstream
component (or a test) may emit unpacked batches.
"""

from __future__ import annotations

import base64
import math
import zlib
from collections.abc import Mapping
from typing import Any

import msgspec

from squall.pipeline.events import event_from_dict
from squall.pipeline.model import Alert, DeadLetter, Event, WindowResult, event_of
from squall.pipeline.settings import MAX_SHARDS, PipelineSettings

SPOUT_FIELDS = ["topic", "partition", "messages"]  # messages = packed [[offset, payload bytes], ...]
# events = packed [[event fields, [topic, partition, offset]], ...]; event fields = [tenant, device_id, event_id,
# ts, type, metrics, attrs] (squall.pipeline.model.EVENT_KEYS)
BATCH_FIELDS = ["shard", "events"]
# Dead letters travel as one packed list per input tuple (most tuples have none; a parse batch has a few):
# letters = packed [[reason, detail, payload bytes, [topic, partition, offset]], ...]
INVALID_FIELDS = ["letters"]
# lates = packed [[tenant, device_id, event dict, [topic, partition, offset], watermark], ...]
LATE_FIELDS = ["lates"]
RECORD_FIELDS = ["kind", "records"]  # records = [record dict, ...], all of one kind
# aggregate's window rows also carry their devices' shard: persist takes them grouped by it, so the emits of one
# window (an idle close, then its amendment) are written by one task in emit order (last write wins)
WINDOW_RECORD_FIELDS = [*RECORD_FIELDS, "shard"]

Record = Event | WindowResult | Alert | DeadLetter
DEFAULT_SHARDS = 16


def shards_for(settings: PipelineSettings | Mapping[str, Any], context: Mapping[str, Any] | None) -> int:
    """How many device shards the batched streams are keyed by: `pipeline.shards`, or, when it is "auto" (the
    default), the least common multiple of the task counts of the topology's components (from the task context
    Storm and `squall run` give every component; DEFAULT_SHARDS without one), at most MAX_SHARDS.

    Why the least common multiple: a fields grouping on `shard` sends shard s to task index (31 + s) mod n
    (Storm hashes the one-field list like java.util.List.hashCode; `squall run` does the same), so with L shards
    every task of an n-task component gets exactly L/n of them, and a batch is split into at most L tuples, one
    per task where parallelisms are equal. More shards than that only make the batches smaller: each multilang
    hop costs the same whatever a tuple holds."""
    chosen = PipelineSettings.of(settings).shards
    if chosen is not None:
        return chosen
    tasks = (context or {}).get("task->component")
    if not tasks:
        return DEFAULT_SHARDS
    counts: dict[str, int] = {}
    for component in tasks.values():
        if not str(component).startswith("__"):  # Storm's own (__acker, __system, ...)
            counts[component] = counts.get(component, 0) + 1
    shards = 1
    for n in counts.values():
        shards = math.lcm(shards, n)
        if shards > MAX_SHARDS:
            return MAX_SHARDS
    return shards


def shard_of(tenant: str, device_id: str, shards: int) -> int:
    """The device's shard: stable across processes and restarts (crc32, not Python's salted hash)."""
    return zlib.crc32(f"{tenant}\x00{device_id}".encode()) % shards


def packs_binary(component: Any) -> bool:
    """Whether `component`'s multilang serializer carries bytes: msgpack does (and in-process hosting passes
    objects as they are); pystorm's JSON serializer does not."""
    from pystorm.serializers.json_serializer import JSONSerializer

    return not isinstance(getattr(component, "serializer", None), JSONSerializer)


# msgspec's msgpack, not msgpack-python's: the same bytes both ways (any msgpack reader takes a batch), the encoder
# in a third to half of packb's time, and the decoder leaves the dicts of scalars it builds (every event's metrics
# and attrs) untracked by the cyclic collector. Neither calls back into Python without hooks, so one of each
# serves every thread.
_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder().decode


def pack_batch(items: list[Any], binary: bool) -> bytes | str:
    """A batch field's value: msgpack of `items` (bytes stay bytes), base64 text when not `binary`."""
    blob: bytes = _encode(items)
    return blob if binary else base64.b64encode(blob).decode("ascii")


def unpack_batch(value: bytes | str | list[Any]) -> list[Any]:
    """The items of a batch field: a packed blob (bytes, or base64 text) or a plain list."""
    if isinstance(value, list):
        return value
    blob = base64.b64decode(value) if isinstance(value, str) else value
    items = _decode(blob)
    if not isinstance(items, list):
        raise ValueError(f"a packed batch holds a list, not {type(items).__name__}")
    return items


def bytes_to_text(data: bytes) -> str:
    return data.decode("latin-1")


def text_to_bytes(text: str | bytes) -> bytes:
    return text if isinstance(text, bytes) else text.encode("latin-1")


def source_of(values: Any) -> tuple[str, int, int]:
    topic, partition, offset = values
    return str(topic), int(partition), int(offset)


def event_entry(event: Event, source: tuple[str, int, int]) -> list[Any]:
    """One event of a batch: [event fields, [topic, partition, offset]] (the fields in EVENT_KEYS order; the
    metrics and attrs dicts are shared: the freshly parsed event is not reused)."""
    fields = [event.tenant, event.device_id, event.event_id, event.ts, event.type, event.metrics, event.attrs]
    return [fields, list(source)]


def late_values(entry: list[Any], watermark: int) -> list[Any]:
    """A late event's item of a LATE_FIELDS batch (the event in its dict form), from its batch entry."""
    fields, source = entry
    return [fields[0], fields[1], event_of(fields), source, watermark]


class Letters:
    """The dead letters (or late events) one input tuple produced, emitted as one packed tuple on `stream`,
    anchored to that input, before it is acked: `add` them while handling it, then `flush`."""

    __slots__ = ("component", "stream", "items", "binary")

    def __init__(self, component: Any, stream: str = "invalid") -> None:
        self.component = component
        self.stream = stream
        self.items: list[Any] = []
        self.binary = packs_binary(component)  # the component's serializer is set before `initialize`

    def add(self, item: list[Any]) -> None:
        self.items.append(item)

    def flush(self, anchor: Any = None) -> None:
        if not self.items:
            return
        items, self.items = self.items, []
        binary = self.binary
        try:
            values = [pack_batch(items, binary)]
        except Exception:  # noqa: BLE001 - a letter that cannot be packed is replaced by one that says so
            values = [pack_batch([_packable(item, binary) for item in items], binary)]
        if anchor is None:  # auto-anchoring to the tuple being processed
            self.component.emit(values, stream=self.stream)
        else:
            self.component.emit(values, stream=self.stream, anchors=[anchor])


def _packable(item: Any, binary: bool) -> Any:
    try:
        pack_batch([item], binary)
        return item
    except Exception as exc:  # noqa: BLE001
        text = repr(item).encode("utf-8", "backslashreplace")
        return [f"processing_error:pack:{type(exc).__name__}", str(exc)[:500], text, ["", -1, -1]]


def record_dict(record: Record) -> dict[str, Any]:
    data = record.to_dict()
    if isinstance(record, DeadLetter):
        data["payload"] = bytes_to_text(record.payload)
    return data


def record_values(kind: str, records: list[Record]) -> list[Any]:
    """A RECORD_FIELDS tuple: one kind, a list of records."""
    return [kind, [record_dict(r) for r in records]]


def record_from_values(kind: str, data: dict[str, Any]) -> Record:
    if kind == "event":  # a dict form, or a batch entry's positional fields (the archive stream)
        return event_from_dict(data if isinstance(data, Mapping) else event_of(data))
    if kind == "window":
        return WindowResult(**data)
    if kind == "alert":
        return Alert(**data)
    if kind == "dead_letter":
        return DeadLetter(**{**data, "payload": text_to_bytes(data["payload"])})
    raise ValueError(f"unknown record kind {kind!r}")
