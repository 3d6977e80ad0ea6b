"""The fast decoding path gives exactly the strict path's answer, and takes the payloads it should."""

from __future__ import annotations

import json
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings

from squall.pipeline.events import EventDecoder, InvalidEvent, Limits, decode_strict
from tests.strategies import payloads

GOOD: dict[str, Any] = {
    "tenant": "acme",
    "device_id": "dev-1",
    "event_id": "e-1",
    "ts": 1_767_225_600_000,
    "type": "telemetry",
    "metrics": {"temperature": 21.5, "battery": 97},
}


def strict(payload: bytes, limits: Limits) -> Any:
    try:
        return decode_strict(payload, limits)
    except InvalidEvent as exc:
        return (exc.reason, exc.detail)


def decoded(payload: bytes, limits: Limits) -> Any:
    try:
        return EventDecoder(limits).decode(payload)
    except InvalidEvent as exc:
        return (exc.reason, exc.detail)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payloads())
def test_any_payload_decodes_as_the_strict_path_decodes_it(payload: bytes) -> None:
    for limits in (Limits(), Limits(max_depth=6, max_attrs_bytes=64, max_metrics=2)):
        expected = strict(payload, limits)
        fast = EventDecoder(limits).fast(payload)
        if fast is not None:
            assert fast == expected and isinstance(expected, dict)
        assert decoded(payload, limits) == expected


def test_valid_events_of_both_encodings_take_the_fast_path() -> None:
    decoder = EventDecoder(Limits())
    with_attrs = {**GOOD, "attrs": {"fw": "1.2", "tags": ["a", "é"], "n": 2**64 - 1}, "extra": {"x": [1]}}
    for event in (GOOD, with_attrs, {**GOOD, "device_id": "dev:1", "metrics": {"a:b": 1.0}}):
        for payload in (json.dumps(event).encode(), msgpack.packb(event, use_bin_type=True)):
            data = decoder.fast(payload)
            assert data is not None and data == decode_strict(payload, Limits())
            assert type(data["metrics"]["battery" if "battery" in data["metrics"] else "a:b"]) is float


MSGPACK_REPEATED_KEY = (
    b"\x86"
    + b"".join(msgpack.packb(k) + msgpack.packb(v) for k, v in GOOD.items() if k != "metrics")
    + msgpack.packb("metrics")
    + b"\x82"
    + msgpack.packb("t")
    + msgpack.packb(1.0)
    + msgpack.packb("t")
    + msgpack.packb(2.0)
)


@pytest.mark.parametrize(
    "payload",
    [
        # a repeated key, with ':' inside strings and spaces before ':' balancing the count of ':'
        b'{"tenant" :"acme","tenant" :"evil","device_id":"d","event_id":"e:1","ts":1767225600000,'
        b'"type":"telemetry","metrics":{"t":1.0},"pad":"::"}',
        # the same with an escaped ':' in a string
        b'{"tenant":"acme","device_id":"d","event_id":"e\\u003a1","ts":1767225600000,"type":"telemetry",'
        b'"metrics":{"t":1.0,"t":2.0},"pad":"x:"}',
        # integers beyond 64 bits that orjson would read as floats
        b'{"tenant":"acme","device_id":"d","event_id":"e","ts":1767225600000,"type":"telemetry",'
        b'"metrics":{"t":1.0},"attrs":{"big":18446744073709551616}}',
        b'{"tenant":"acme","device_id":"d","event_id":"e","ts":17672256000000000000000,"type":"telemetry",'
        b'"metrics":{"t":1.0}}',
        # a lone surrogate, and a repeated msgpack key
        b'{"tenant":"acme","device_id":"d","event_id":"e","ts":1767225600000,"type":"telemetry",'
        b'"metrics":{"t":1.0},"attrs":{"s":"\\ud800"}}',
        MSGPACK_REPEATED_KEY,
    ],
)
def test_what_the_fast_path_cannot_prove_goes_to_the_strict_path(payload: bytes) -> None:
    assert EventDecoder(Limits()).fast(payload) is None
    assert isinstance(strict(payload, Limits()), tuple)  # and the strict path refuses each of them
    assert decoded(payload, Limits()) == strict(payload, Limits())


def test_attrs_near_the_size_limit_are_measured_exactly() -> None:
    attrs = {"note": "x" * 50}
    size = len(json.dumps(attrs, separators=(",", ":")))
    payload = json.dumps({**GOOD, "attrs": attrs}).encode()
    assert decoded(payload, Limits(max_attrs_bytes=size))["attrs"] == attrs
    assert decoded(payload, Limits(max_attrs_bytes=size - 1))[0] == "too_large:attrs"
