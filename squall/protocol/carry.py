"""What a Python component's serializer can carry, and what is sent instead when it cannot.

pystorm's `Serializer.send_message` logs "Failed to send message" and drops a message its `serialize_dict`
cannot encode (a `set` or a NaN under JSON; a lone surrogate or an int beyond 64 bits under msgpack): the emit
never reaches Storm, so its tuple is neither acked nor failed. Here, such a message is replaced by a multilang
`error` command that names the problem and carries (under `UNSERIALIZABLE`) what the runner needs to fail the
tuple: the stream, the spout's message id, the anchors. Process mode installs this in the component process
(`squall.runner.bootstrap`); inline mode screens each message with the same encoder (`Screen`), so both
hostings lose and report the same messages.

Pure logic: the encoder is passed in (pystorm's own `serialize_dict` for the topology's serializer).
"""

from __future__ import annotations

import io
import math
import threading
from collections.abc import Callable
from typing import Any

UNSERIALIZABLE = "squall.unserializable"  # key of an `error` command that replaces a message it describes
SCREENED = frozenset({"emit", "metrics"})  # commands whose content comes from user code (inline screening)
_FIX = {
    "json": "emit str, int, finite float, bool, None, lists and dicts with str keys "
    "(encode other values first, e.g. a set as a sorted list, bytes as base64 text)",
    "msgpack": "emit str (valid UTF-8), ints within 64 bits, float, bool, None, bytes, lists and dicts "
    "(encode other values first)",
}

Encode = Callable[[Any], Any]


def component_encoder(serializer: str) -> Encode:
    """The `serialize_dict` of pystorm's serializer named `serializer`: exactly what a Python component
    running under that serializer does to each message it sends."""
    from pystorm.serializers.json_serializer import JSONSerializer
    from pystorm.serializers.msgpack_serializer import MsgpackSerializer

    classes = {"json": JSONSerializer, "msgpack": MsgpackSerializer}
    if serializer not in classes:
        raise ValueError(f"unknown multilang serializer {serializer!r}: use json or msgpack")
    lock = threading.RLock()
    instance = classes[serializer](io.BytesIO(), io.BytesIO(), lock, lock)
    return instance.serialize_dict  # type: ignore[no-any-return]


def _ascii(text: str, limit: int = 300) -> str:
    """Text any serializer carries (no lone surrogates, nothing outside ASCII), cut to `limit`."""
    out = text.encode("ascii", "backslashreplace").decode("ascii")
    return out if len(out) <= limit else out[: limit - 3] + "..."


def _carries(encode: Encode, value: Any) -> bool:
    try:
        encode({"v": value})
    except Exception:  # noqa: BLE001 - whatever the serializer raises, it cannot carry the value
        return False
    return True


def find_offender(value: Any, encode: Encode, where: str = "tuple") -> tuple[str, str]:
    """(path, type name) of the innermost part of `value` that `encode` rejects, e.g. ("tuple[1]['a']", "set").
    `value` itself when no part of it is to blame."""
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            if not _carries(encode, item):
                return find_offender(item, encode, f"{where}[{i}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            label = _ascii(repr(key), 40)
            if not _carries(encode, {key: None}):
                return f"{where} key {label}", type(key).__name__
            if not _carries(encode, item):
                return find_offender(item, encode, f"{where}[{label}]")
    return where, type(value).__name__


def lost_message_report(message: Any, exc: BaseException, serializer: str, encode: Encode) -> dict[str, Any]:
    """The `error` command sent in place of `message`, which `encode` (serializer `serializer`) rejected with
    `exc`. Everything in it is ASCII text, small ints, bools and None, so every serializer carries it."""
    command = message.get("command") if isinstance(message, dict) else None
    command = command if isinstance(command, str) else type(message).__name__
    info: dict[str, Any] = {
        "command": _ascii(command, 40),
        "serializer": serializer,
        "reason": _ascii(f"{type(exc).__name__}: {exc}"),
    }
    where, kind = "message", type(message).__name__
    if isinstance(message, dict):
        for key in ("tuple", "id", "stream", "anchors", "params", "task", "name", "msg"):
            if key in message and not _carries(encode, message[key]):
                where, kind = find_offender(message[key], encode, key)
                break
        stream = message.get("stream")
        info["stream"] = stream if isinstance(stream, str) and _carries(encode, stream) else None
        if stream is not None and info["stream"] is None:
            info["stream_repr"] = _ascii(repr(stream), 80)
        if "id" in message:
            msg_id = message["id"]
            info["has_id"] = msg_id is not None
            info["id"] = msg_id if _carries(encode, msg_id) else None
            info["id_carried"] = msg_id is None or info["id"] is not None
        anchors = message.get("anchors")
        if isinstance(anchors, (list, tuple)):
            info["anchors"] = [str(a) for a in anchors if isinstance(a, (str, int)) and _carries(encode, a)]
        info["direct"] = message.get("task") is not None
        info["need_task_ids"] = bool(message.get("need_task_ids", True))
    info["where"] = _ascii(where, 120)
    info["type"] = _ascii(kind, 80)
    text = (
        f"{info['command']} cannot be serialized with {serializer}: {info['where']} is of type {info['type']} "
        f"({info['reason']}); it was not sent"
    )
    return {"command": "error", "msg": text, UNSERIALIZABLE: info}


def fix_for(serializer: str) -> str:
    return _FIX.get(serializer, "emit only values the topology's serializer can encode")


_JSON_PLAIN = frozenset({bool, type(None)})
_MSGPACK_PLAIN = frozenset({bool, float, bytes, type(None)})


def _flat_json(values: Any, extra: Any = None) -> bool:
    """Every one of `values`, and `extra`, is one pystorm's JSON serializer takes as it is: str, int, bool, None,
    finite float. (`extra`: one more value, e.g. a message id, without building a tuple of them all.)"""
    for v in values:
        t = type(v)
        if t is str or t is int:  # the usual values first: each test costs
            continue
        if t is float:
            if math.isfinite(v):
                continue
            return False
        if t not in _JSON_PLAIN:
            return False
    if extra is None:
        return True
    t = type(extra)
    if t is str or t is int:
        return True
    if t is float:
        return math.isfinite(extra)
    return t in _JSON_PLAIN


def _flat_msgpack(values: Any, extra: Any = None) -> bool:
    """Every one of `values`, and `extra`, is one msgpack takes as it is: ASCII str, int within 64 bits, bool,
    None, float, bytes. (`extra`: one more value, e.g. a message id, without building a tuple of them all.)"""
    for v in values:
        t = type(v)
        if t is int:  # the usual values first: each test costs
            if -(1 << 63) <= v < (1 << 64):
                continue
            return False
        if t is str:
            if v.isascii():
                continue
            return False
        if t not in _MSGPACK_PLAIN:
            return False
    if extra is None:
        return True
    t = type(extra)
    if t is int:
        n: int = extra
        return -(1 << 63) <= n < (1 << 64)
    if t is str:
        text: str = extra
        return text.isascii()
    return t in _MSGPACK_PLAIN


class Screen:
    """Inline mode's stand-in for the check pystorm's serializer makes in a component process: a message
    `encode` rejects becomes the same `error` report the process-mode bootstrap sends. Flat tuples of plain
    values (the usual case) are passed without encoding them."""

    def __init__(self, serializer: str, encode: Encode | None = None) -> None:
        self.serializer = serializer
        self.encode = encode or component_encoder(serializer)
        self._flat = _flat_msgpack if serializer == "msgpack" else _flat_json
        # flat(values, extra=None): True when every one of `values`, and `extra`, is one the serializer takes
        # as it is (no encoding needed)
        self.flat: Callable[..., bool] = self._flat

    def __call__(self, message: dict[str, Any]) -> dict[str, Any]:
        command = message.get("command")
        if command == "emit":
            values = message.get("tuple")
            anchors = message.get("anchors") or ()
            if (
                isinstance(values, (list, tuple))  # streamparse's namedtuples too: both encode them as arrays
                and isinstance(anchors, (list, tuple))
                # one pass over every value the serializer would meet
                and self._flat((*values, message.get("id"), message.get("stream"), *anchors))
            ):
                return message
        elif command not in SCREENED:
            return message
        try:
            self.encode(message)
        except Exception as exc:  # noqa: BLE001 - pystorm's send_message catches everything here too
            return lost_message_report(message, exc, self.serializer, self.encode)
        return message


def describe_lost(info: dict[str, Any], consequence: str) -> str:
    """The runner's one-line error (its task named beside it) for a message, described by `info` (a report's
    `UNSERIALIZABLE` part), that a component's serializer could not carry; `consequence` says what became of it."""
    what = str(info.get("command", "message"))
    stream = info.get("stream") or info.get("stream_repr") or "default"
    head = what
    if what == "emit":
        head += f" on stream {stream!r}"
    serializer = str(info.get("serializer", "?"))
    return (
        f"{head} cannot be serialized with {serializer}: {info.get('where', '?')} is of type "
        f"{info.get('type', '?')} ({info.get('reason', '?')}); {consequence} (fix: {fix_for(serializer)})"
    )
