"""The fields of the pipeline's streams and the conversions between records and tuple values.

Tuple values must survive both multilang serializers (JSON and msgpack), so records travel as plain dicts and
bytes as latin-1 strings (lossless: every byte maps to one code point).
"""

from __future__ import annotations

from typing import Any

from squall.pipeline.events import event_from_dict
from squall.pipeline.model import Alert, DeadLetter, Event, WindowResult

SPOUT_FIELDS = ["payload", "topic", "partition", "offset"]
EVENT_FIELDS = ["tenant", "device_id", "event", "source"]  # source = [topic, partition, offset]
INVALID_FIELDS = ["reason", "detail", "payload", "source"]
LATE_FIELDS = ["tenant", "device_id", "event", "source", "watermark"]
RECORD_FIELDS = ["kind", "record"]

Record = Event | WindowResult | Alert | DeadLetter


def bytes_to_text(data: bytes) -> str:
    return data.decode("latin-1")


def text_to_bytes(text: str | bytes) -> bytes:
    return text if isinstance(text, bytes) else text.encode("latin-1")


def source_of(values: Any) -> tuple[str, int, int]:
    topic, partition, offset = values
    return str(topic), int(partition), int(offset)


def event_values(event: Event, source: tuple[str, int, int]) -> list[Any]:
    """The values of an event tuple. The event's dict form is built field by field (equal to `to_dict()`,
    without dataclasses.asdict's recursive deep copy: the freshly parsed event is not used afterwards)."""
    data = {
        "tenant": event.tenant,
        "device_id": event.device_id,
        "event_id": event.event_id,
        "ts": event.ts,
        "type": event.type,
        "metrics": event.metrics,
        "attrs": event.attrs,
    }
    return [event.tenant, event.device_id, data, list(source)]


def record_values(kind: str, record: Record) -> list[Any]:
    data = record.to_dict()
    if isinstance(record, DeadLetter):
        data["payload"] = bytes_to_text(record.payload)
    return [kind, data]


def record_from_values(kind: str, data: dict[str, Any]) -> Record:
    if kind == "event":
        return event_from_dict(data)
    if kind == "window":
        return WindowResult(**data)
    if kind == "alert":
        return Alert(**data)
    if kind == "dead_letter":
        return DeadLetter(**{**data, "payload": text_to_bytes(data["payload"])})
    raise ValueError(f"unknown record kind {kind!r}")
