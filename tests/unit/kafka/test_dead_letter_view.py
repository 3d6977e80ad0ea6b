from __future__ import annotations

import base64

from rich.console import Console

from squall.kafka.dead_letter_view import (
    count_by_reason,
    letters_document,
    preview,
    reasons_document,
    render_table,
)
from squall.pipeline.model import DeadLetter


def test_preview_escapes_non_printable_and_cuts() -> None:
    assert preview(b'{"a":1}') == '{"a":1}'
    assert preview(b"\xc1\xff\x00ok\\") == "\\xc1\\xff\\x00ok\\x5c"
    assert preview(b"x" * 100, width=4) == "xxxx…"


def test_table_shows_reason_source_and_bytes() -> None:
    dl = DeadLetter(
        "missing_field:tenant", "the event has no 'tenant'", b'{"device_id":"d"}', "iot.events", 3, 42, 0
    )
    console = Console(width=200, record=True)
    console.print(render_table([dl], 200))
    text = console.export_text()
    for expected in ("missing_field:tenant", "iot.events", "3", "42", '{"device_id":"d"}'):
        assert expected in text


def letter(reason: str, offset: int, payload: bytes = b"{") -> DeadLetter:
    return DeadLetter(reason, "d" * 100, payload, "iot.events", 1, offset, 5)


def test_count_by_reason_most_frequent_first_ties_by_name() -> None:
    reasons = ["late", "invalid_json", "late", "b", "a", "late", "invalid_json"]
    assert list(count_by_reason(reasons).items()) == [("late", 3), ("invalid_json", 2), ("a", 1), ("b", 1)]


def rendered(letters: list[DeadLetter], width: int) -> list[str]:
    console = Console(width=width, record=True)
    console.print(render_table(letters, width), crop=False)
    return [line for line in console.export_text().splitlines() if line.startswith("│")]


def test_reasons_are_never_cut_at_80_columns_the_preview_is() -> None:
    long_reason = "processing_error:aggregate:ZeroDivisionError"
    letters = [letter(long_reason, 7, b"x" * 500), letter("late", 123)]
    rows = rendered(letters, 80)
    assert len(rows) == 2 and max(map(len, rows)) <= 80  # one line each
    assert long_reason in rows[0] and "iot.events/1@7" in rows[0] and rows[0].rstrip(" │").endswith("…")
    assert "ddd" not in rows[0]  # too narrow for the detail too: it goes first
    assert "iot.events/1@123 " in rows[1]
    wide = rendered(letters, 140)
    assert max(map(len, wide)) <= 140 and "ddd" in wide[0] and wide[0].rstrip(" │").endswith("…")


def test_a_reason_wider_than_the_terminal_runs_past_it_whole() -> None:
    reason = "processing_error:aggregate:" + "E" * 80
    (row,) = rendered([letter(reason, 7)], 80)
    assert reason in row and "iot.events/1@7" in row


def test_json_documents_carry_the_whole_payload() -> None:
    payload = bytes(range(256)) * 4
    doc = letters_document("kafka", [letter("too_large", 3, payload)], skipped=2)
    assert doc["source"] == "kafka" and doc["count"] == 1 and doc["skipped_undecodable"] == 2
    (one,) = doc["dead_letters"]
    assert base64.b64decode(one["payload_base64"]) == payload
    assert one["payload_size"] == 1024 and not one["payload_text"].endswith("…")
    assert one["detail"] == "d" * 100
    assert set(one) == {
        "reason",
        "detail",
        "source_topic",
        "source_partition",
        "source_offset",
        "ts",
        "payload_size",
        "payload_base64",
        "payload_text",
    }
    assert reasons_document("sqlite", {"late": 2, "x": 1}) == {
        "source": "sqlite",
        "total": 3,
        "skipped_undecodable": 0,
        "by_reason": {"late": 2, "x": 1},
    }
