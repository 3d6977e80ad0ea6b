"""How a DeadLetter travels on the dead-letter topic: a msgpack map, original bytes kept as raw bytes.

Key: b"<source_topic>:<source_partition>:<source_offset>", so compaction and readers see one record per input.
"""

from __future__ import annotations

from typing import Any

import msgpack

from squall.errors import SquallError
from squall.pipeline.model import DeadLetter

_FIELDS = ("reason", "detail", "payload", "source_topic", "source_partition", "source_offset", "ts")


class DeadLetterDecodeError(SquallError):
    """A message on the dead-letter topic is not an encoded DeadLetter."""


def dead_letter_key(dl: DeadLetter) -> bytes:
    return f"{dl.source_topic}:{dl.source_partition}:{dl.source_offset}".encode()


def encode_dead_letter(dl: DeadLetter) -> bytes:
    body: bytes = msgpack.packb({name: getattr(dl, name) for name in _FIELDS}, use_bin_type=True)
    return body


def decode_dead_letter(value: bytes) -> DeadLetter:
    try:
        doc: Any = msgpack.unpackb(value, raw=False)
    except (msgpack.ExtraData, msgpack.FormatError, msgpack.StackError, ValueError) as exc:
        raise DeadLetterDecodeError(f"dead-letter message is not msgpack: {exc}") from exc
    if not isinstance(doc, dict) or any(name not in doc for name in _FIELDS):
        raise DeadLetterDecodeError(f"dead-letter message lacks fields; want {', '.join(_FIELDS)}")
    payload = doc["payload"]
    if isinstance(payload, str):
        payload = payload.encode("latin-1")
    return DeadLetter(
        reason=str(doc["reason"]),
        detail=str(doc["detail"]),
        payload=bytes(payload),
        source_topic=str(doc["source_topic"]),
        source_partition=int(doc["source_partition"]),
        source_offset=int(doc["source_offset"]),
        ts=int(doc["ts"]),
    )
