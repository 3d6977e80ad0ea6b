"""What the Quix Streams job of the end-to-end benchmark keeps of a message (no Quix needed to test it)."""

import json

from bench.quix_job import telemetry


def test_a_telemetry_event_gives_its_time_and_three_metrics() -> None:
    raw = json.dumps(
        {
            "tenant": "t",
            "device_id": "d",
            "ts": 1_767_225_600_123,
            "type": "telemetry",
            "metrics": {"temperature": 21.5, "humidity": 40.1, "battery": 99, "rssi": -50},
        }
    ).encode()
    assert telemetry(raw) == {"ts": 1_767_225_600_123, "temperature": 21.5, "humidity": 40.1, "battery": 99}


def test_anything_else_is_dropped() -> None:
    base = {"ts": 1, "type": "telemetry", "metrics": {"temperature": 1, "humidity": 2, "battery": 3}}
    assert telemetry(b'{"ts": 1, "type": "telem') is None  # truncated
    assert telemetry(b"[" * 100_000 + b"]" * 100_000) is None  # nested past the decoder's depth
    assert telemetry(json.dumps({**base, "type": "alarm"}).encode()) is None
    assert telemetry(json.dumps({**base, "ts": "soon"}).encode()) is None
    assert telemetry(json.dumps({**base, "metrics": {"temperature": 1}}).encode()) is None
    assert telemetry(b"\x93\x01\x02\x03") is None  # not JSON (msgpack)
