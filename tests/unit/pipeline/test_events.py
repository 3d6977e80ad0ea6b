"""The event contract: decoding JSON/msgpack, validation reasons, and that bad input never escapes as a crash."""

from __future__ import annotations

import json
import math
from typing import Any

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from squall.pipeline.events import InvalidEvent, Limits, decode_event, detect_format

GOOD: dict[str, Any] = {
    "tenant": "acme",
    "device_id": "dev-1",
    "event_id": "e-1",
    "ts": 1_767_225_600_000,
    "type": "telemetry",
    "metrics": {"temperature": 21.5, "battery": 97},
}


def test_json_and_msgpack_decode_to_the_same_normalised_event() -> None:
    from_json = decode_event(json.dumps(GOOD).encode())
    from_msgpack = decode_event(msgpack.packb(GOOD))
    assert from_json == from_msgpack
    assert from_json.metrics == {"temperature": 21.5, "battery": 97.0}
    assert isinstance(from_json.metrics["battery"], float)
    assert from_json.attrs == {}


def test_format_detection_by_first_byte() -> None:
    assert detect_format(b'{"a":1}') == "json"
    assert detect_format(b'  \n{"a":1}') == "json"
    assert detect_format(msgpack.packb(GOOD)) == "msgpack"
    assert decode_event(b"\n " + json.dumps(GOOD).encode()).event_id == "e-1"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"tenant": None}, "missing_field:tenant"),
        ({"tenant": "Acme Corp"}, "invalid_field:tenant"),
        ({"tenant": "x" * 65}, "invalid_field:tenant"),
        ({"device_id": ""}, "invalid_field:device_id"),
        ({"device_id": "a\nb"}, "invalid_field:device_id"),
        ({"event_id": "e" * 129}, "invalid_field:event_id"),
        ({"ts": 1_767_225_600}, "invalid_field:ts"),
        ({"ts": 1.5e12}, "invalid_field:ts"),
        ({"ts": True}, "invalid_field:ts"),
        ({"type": "Tele Metry"}, "invalid_field:type"),
        ({"metrics": {}}, "invalid_field:metrics"),
        ({"metrics": [1, 2]}, "invalid_field:metrics"),
        ({"metrics": {"t": "hot"}}, "invalid_metric:t"),
        ({"metrics": {"t": True}}, "invalid_metric:t"),
        ({"metrics": {"bad name": 1}}, "invalid_metric_name"),
        ({"attrs": [1]}, "invalid_field:attrs"),
        ({"attrs": {"blob": "x" * 5000}}, "too_large:attrs"),
        ({"event_id": "a\x00b"}, "invalid_field:event_id"),
        ({"event_id": "a\x1b[31m"}, "invalid_field:event_id"),
        ({"event_id": "\ud800"}, "invalid_field:event_id"),
        ({"attrs": {"fw": "\udfff"}}, "invalid_field:attrs"),
        ({"attrs": {"\ud800": 1}}, "invalid_field:attrs"),
        ({"attrs": {"n": 2**64}}, "invalid_field:attrs"),
        ({"attrs": {"n": -(2**63) - 1}}, "invalid_field:attrs"),
        ({"attrs": {"deep": [[{"n": 2**70}]]}}, "invalid_field:attrs"),
    ],
)
def test_each_contract_violation_has_its_reason(change: dict[str, Any], reason: str) -> None:
    event = {**GOOD, **change}
    event = {k: v for k, v in event.items() if v is not None}
    with pytest.raises(InvalidEvent) as err:
        decode_event(json.dumps(event).encode())
    assert err.value.reason == reason
    assert err.value.detail


def test_non_finite_numbers_are_rejected_in_both_encodings() -> None:
    text = json.dumps(GOOD).replace("21.5", "NaN").encode()
    with pytest.raises(InvalidEvent) as err:
        decode_event(text)
    assert err.value.reason == "invalid_json"
    packed = msgpack.packb({**GOOD, "metrics": {"t": math.inf}})
    with pytest.raises(InvalidEvent) as err:
        decode_event(packed)
    assert err.value.reason == "invalid_metric:t"
    with pytest.raises(InvalidEvent) as err:
        decode_event(json.dumps({**GOOD, "metrics": {"t": 10**400}}).encode())
    assert err.value.reason == "invalid_metric:t"


def test_64_bit_integers_in_attrs_are_accepted() -> None:
    event = decode_event(json.dumps({**GOOD, "attrs": {"a": 2**64 - 1, "b": -(2**63)}}).encode())
    assert event.attrs == {"a": 2**64 - 1, "b": -(2**63)}


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


@pytest.mark.parametrize("fmt", ["json", "msgpack"])
@pytest.mark.parametrize("where", ["attrs", "extra"])
def test_nesting_beyond_max_depth_is_too_deep(fmt: str, where: str) -> None:
    def encode(obj: Any) -> bytes:
        return json.dumps(obj).encode() if fmt == "json" else msgpack.packb(obj)

    limits = Limits(max_depth=8)
    # the event is depth 1, an object inside it depth 2: 7 objects inside one another reach depth 8
    decode_event(encode({**GOOD, where: _nested(7)}), limits)
    with pytest.raises(InvalidEvent) as err:
        decode_event(encode({**GOOD, where: _nested(8)}), limits)
    assert err.value.reason == "too_deep"


def test_nesting_beyond_the_decoders_own_limits_is_too_deep_not_a_crash() -> None:
    text = ('{"tenant":"acme","attrs":' + '{"a":' * 100_000 + "1" + "}" * 100_000 + "}").encode()
    with pytest.raises(InvalidEvent) as err:
        decode_event(text, Limits(max_payload_bytes=10**7))
    assert err.value.reason == "too_deep"
    packed = b"\x81\xa1a" * 2000 + b"\x01"  # 2,000 maps inside one another
    with pytest.raises(InvalidEvent) as err:
        decode_event(packed)
    assert err.value.reason == "too_deep"


@pytest.mark.parametrize(
    "payload",
    [
        b'{"tenant":"acme","tenant":"evil","device_id":"d","event_id":"e","ts":1767225600000,'
        b'"type":"telemetry","metrics":{"t":1}}',
        b'{"tenant":"acme","device_id":"d","event_id":"e","ts":1767225600000,"type":"telemetry",'
        b'"metrics":{"t":1,"t":2}}',
        b"\x82\xa6tenant\xa4acme\xa6tenant\xa4evil",
    ],
)
def test_duplicate_keys_are_refused_in_both_formats(payload: bytes) -> None:
    with pytest.raises(InvalidEvent) as err:
        decode_event(payload)
    assert err.value.reason == "duplicate_key"


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"[1, 2]", "not_an_object"),
        (b"null", "not_an_object"),
        (b'"text"', "not_an_object"),
        (b"42", "not_an_object"),
        (msgpack.packb([1, 2]), "not_an_object"),
        (msgpack.packb(None), "not_an_object"),
        (msgpack.packb("text"), "not_an_object"),
        (b"\xef\xbb\xbf[1]", "not_an_object"),
        (b"nul", "invalid_json"),
    ],
)
def test_top_levels_that_are_not_objects_are_named_so_in_either_format(payload: bytes, reason: str) -> None:
    with pytest.raises(InvalidEvent) as err:
        decode_event(payload)
    assert err.value.reason == reason


def test_a_json_event_after_a_utf8_byte_order_mark_is_read() -> None:
    assert decode_event(b"\xef\xbb\xbf" + json.dumps(GOOD).encode()).event_id == "e-1"


def test_size_limits_are_configurable() -> None:
    payload = json.dumps(GOOD).encode()
    with pytest.raises(InvalidEvent) as err:
        decode_event(payload, Limits(max_payload_bytes=10))
    assert err.value.reason == "too_large"
    with pytest.raises(InvalidEvent) as err:
        decode_event(payload, Limits(max_metrics=1))
    assert err.value.reason == "too_large:metrics"


@given(st.binary(max_size=300))
def test_arbitrary_bytes_either_decode_or_raise_invalid_event(data: bytes) -> None:
    try:
        event = decode_event(data)
    except InvalidEvent as exc:
        assert exc.reason
    else:
        assert event.tenant and event.metrics


finite = st.floats(allow_nan=False, allow_infinity=False)
events = st.fixed_dictionaries(
    {
        "tenant": st.from_regex(r"[a-z0-9_-]{1,64}", fullmatch=True),
        "device_id": st.text(
            st.characters(min_codepoint=33, max_codepoint=0x2FF).filter(str.isprintable),
            min_size=1,
            max_size=128,
        ),
        "event_id": st.text(st.characters().filter(str.isprintable), min_size=1, max_size=128),
        "ts": st.integers(946_684_800_000, 4_102_444_799_999),
        "type": st.sampled_from(["telemetry", "status", "alarm"]),
        "metrics": st.dictionaries(
            st.from_regex(r"[A-Za-z0-9_.:-]{1,64}", fullmatch=True),
            finite | st.integers(-(2**53), 2**53),
            min_size=1,
            max_size=8,
        ),
    }
)


@given(events, st.sampled_from(["json", "msgpack"]))
def test_valid_events_round_trip_through_either_encoding(event: dict[str, Any], fmt: str) -> None:
    payload = json.dumps(event).encode() if fmt == "json" else msgpack.packb(event)
    decoded = decode_event(payload)
    assert decoded.to_dict() | {"metrics": None} == {**event, "attrs": {}, "metrics": None}
    assert decoded.metrics == {k: float(v) for k, v in event["metrics"].items()}
