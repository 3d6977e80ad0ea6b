"""Building dead letters: one place that turns a rejected or failed input into a `DeadLetter`.

Every stage of the pipeline handles each event on its own. When handling one event raises, that event (and only
it) is dead-lettered with the reason `processing_error:<component>:<ExceptionType>`; its batch-mates go on. A
payload over `max_payload_bytes` is dead-lettered by a bounded prefix, its size and its SHA-256: with its source
topic, partition and offset that is enough to find the original in the source topic, and a 10 MB message costs
no more to carry than a normal one.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from squall.pipeline.model import DeadLetter, event_of

Source = tuple[str, int, int]
DETAIL_CHARS = 500
UNKNOWN_SOURCE: Source = ("unknown", -1, -1)


def safe_text(text: str) -> str:
    """`text` as valid Unicode: a lone surrogate (from a payload echoed in an error message) becomes its escape,
    so every encoder downstream (msgpack, the stores) takes the dead letter."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def oversized_detail(size: int, limit: int, sha256: str, kept: int) -> str:
    return f"{size} bytes > max_payload_bytes {limit}; sha256={sha256}; payload holds the first {kept} bytes"


def digest(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


def truncate(payload: bytes, limit: int, prefix_bytes: int) -> tuple[bytes, str]:
    """(the first `prefix_bytes` of an oversized payload, the dead letter's detail)."""
    prefix = payload[:prefix_bytes]
    return prefix, oversized_detail(len(payload), limit, digest(payload), len(prefix))


def processing_error_reason(component: str, exc: BaseException) -> str:
    return f"processing_error:{component}:{type(exc).__name__}"


def processing_error_detail(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:  # noqa: BLE001 - an exception whose __str__ raises still gets dead-lettered
        text = "(the exception cannot be shown)"
    return safe_text(f"{type(exc).__name__}: {text}"[:DETAIL_CHARS])


def event_payload(event: Any) -> bytes:
    """The bytes a dead letter carries for an event past parse (its original bytes stay in the source topic at
    the letter's coordinates): the normalised event as compact sorted JSON, else its repr."""
    try:
        return json.dumps(event, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()
    except Exception:  # noqa: BLE001 - whatever the value is, the letter must be written
        return repr(event).encode("utf-8", "backslashreplace")


def processing_error(
    component: str, exc: BaseException, payload: bytes, source: Source, now_ms: int
) -> DeadLetter:
    return DeadLetter(
        reason=processing_error_reason(component, exc),
        detail=processing_error_detail(exc),
        payload=payload,
        source_topic=str(source[0]),
        source_partition=int(source[1]),
        source_offset=int(source[2]),
        ts=now_ms,
    )


def invalid_values(component: str, exc: BaseException, entry: Any) -> list[Any]:
    """An `invalid` stream letter (an item of INVALID_FIELDS' `letters`) for a batch entry ([event fields, source])
    that failed in `component` past parse: the payload is the normalised event (its dict form)."""
    event, source = _entry_parts(entry)
    return [
        processing_error_reason(component, exc),
        processing_error_detail(exc),
        event_payload(event_of(event)),
        list(source),
    ]


def coordinates(source: Any, fallback: Source = UNKNOWN_SOURCE) -> Source:
    """`source` as (topic, partition, offset), or `fallback` when it cannot be read as one."""
    try:
        topic, partition, offset = source
        return str(topic), int(partition), int(offset)
    except Exception:  # noqa: BLE001 - a broken value still gets its letter
        return fallback


def _entry_parts(entry: Any) -> tuple[Any, Source]:
    """(event, source) of an entry, with a placeholder source when the entry itself is broken."""
    try:
        event, source = entry
    except Exception:  # noqa: BLE001
        return entry, UNKNOWN_SOURCE
    return event, coordinates(source)
