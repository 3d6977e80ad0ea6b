"""Hypothesis strategies shared by the fuzz tests: whatever bytes a device (or an attacker) could put in a message.

Payloads are built around the event contract, so most examples get deep into validation instead of failing on
the first byte: valid events, events with one field replaced by any JSON-like value, any JSON-like value at all,
deep nesting, duplicate keys, a byte order mark, both encodings, and raw bytes."""

from __future__ import annotations

import json
from typing import Any

import msgpack
from hypothesis import strategies as st

T0 = 1_767_225_600_000
# every code point, lone surrogates and control characters included
any_text = st.text(st.characters(codec=None, categories=None), max_size=12)
scalars = (
    st.none()
    | st.booleans()
    | st.integers()  # unbounded: beyond 64 bits too
    | st.integers(-(2**64), 2**65)
    | st.floats()  # NaN and infinities too
    | any_text
)
json_like = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(any_text, children, max_size=4),
    max_leaves=24,
)
valid_event = st.fixed_dictionaries(
    {
        "tenant": st.from_regex(r"[a-z0-9_-]{1,8}", fullmatch=True),
        "device_id": st.text(
            st.characters(min_codepoint=33, max_codepoint=0x2FF).filter(str.isprintable),
            min_size=1,
            max_size=16,
        ),
        "event_id": any_text.filter(lambda t: 0 < len(t)),
        "ts": st.integers(T0 - 10**10, T0 + 10**10) | st.integers(),
        "type": st.sampled_from(["telemetry", "status", "alarm"]),
        "metrics": st.dictionaries(
            st.from_regex(r"[A-Za-z0-9_.:-]{1,12}", fullmatch=True),
            st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(2**80), 2**80),
            min_size=1,
            max_size=4,
        ),
    },
    optional={"attrs": json_like},
)


@st.composite
def event_objects(draw: st.DrawFn) -> Any:
    """An event, possibly with one field replaced or added, or any JSON-like value, or deep nesting."""
    choice = draw(st.integers(0, 5))
    if choice == 0:
        return draw(json_like)
    event = draw(valid_event)
    if choice == 1:
        event[draw(st.sampled_from([*event, "extra"]))] = draw(json_like)
    elif choice == 2:
        depth = draw(st.integers(20, 400))
        value: Any = 1
        for _ in range(depth):
            value = {"a": value} if depth % 2 else [value]
        event[draw(st.sampled_from(["attrs", "extra", "metrics"]))] = value
    return event


def _encode(obj: Any, how: str) -> bytes:
    if how == "msgpack":
        try:
            return bytes(msgpack.packb(obj, use_bin_type=True))
        except (ValueError, OverflowError, TypeError, UnicodeEncodeError):
            how = "json"  # not representable in msgpack: send it as JSON instead
    try:
        text = json.dumps(obj, ensure_ascii=how != "json-utf8")
    except (ValueError, RecursionError):
        text = "{}"
    if how == "json-duplicate" and text.startswith('{"'):
        key = text[1 : text.index('"', 2) + 1]
        text = "{" + key + ":0," + text[1:]
    data = text.encode("utf-8", "surrogatepass")
    return b"\xef\xbb\xbf" + data if how == "json-bom" else data


@st.composite
def payloads(draw: st.DrawFn) -> bytes:
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=200))
    how = draw(st.sampled_from(["json", "json-utf8", "msgpack", "json-duplicate", "json-bom"]))
    return _encode(draw(event_objects()), how)
