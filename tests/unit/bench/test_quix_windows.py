"""The end-to-end benchmark's check of the Quix job's output against the messages it read."""

import json

from bench.end_to_end import check_quix_windows
from bench.quix_job import GRACE_MS, WINDOW_MS, telemetry
from squall.pipeline.simulator import Produced

T0 = 1_767_225_600_000


def msg(key: bytes, ts: int, label: str = "ok") -> Produced:
    event = {"ts": ts, "type": "telemetry", "metrics": {"temperature": 1.0, "humidity": 2.0, "battery": 3}}
    return Produced(key, json.dumps(event).encode(), 0, 0, label)


# device a: windows T0 (2 events + a duplicate), T0+10 s (1), T0+20 s (1, still open); a late event for T0
MESSAGES = [
    msg(b"a", T0 + 1_000),
    msg(b"a", T0 + 2_000),
    msg(b"a", T0 + 2_000, "dup"),
    msg(b"a", T0 + 12_000),
    msg(b"a", T0 + 3_000, "late"),
    msg(b"a", T0 + 26_000),
    Produced(b"a", b'{"ts": 1, "type": "telem', 0, 0, "bad"),
]


def check(emitted: dict[tuple[bytes, int], dict[str, int]]) -> dict[str, object]:
    return check_quix_windows(MESSAGES, emitted, telemetry, WINDOW_MS, GRACE_MS)


def test_exact_counts_and_only_the_last_window_open_is_plausible() -> None:
    got = check({(b"a", T0): {"temperature_count": 3}, (b"a", T0 + 10_000): {"temperature_count": 1}})
    assert got["output_plausible"] is True
    assert got["windows_in_the_messages"] == 3 and got["windows_open_at_the_end"] == 1
    assert got["messages_counted"] == 4


def test_a_wrong_count_or_a_closed_window_missing_is_not() -> None:
    wrong = check({(b"a", T0): {"temperature_count": 4}, (b"a", T0 + 10_000): {"temperature_count": 1}})
    assert wrong["output_plausible"] is False and wrong["windows_with_a_wrong_count"] == 1
    missing = check({(b"a", T0 + 10_000): {"temperature_count": 1}})
    assert missing["output_plausible"] is False and missing["windows_closed_but_missing"] == 1
    assert check({})["output_plausible"] is False  # a job that emitted nothing
