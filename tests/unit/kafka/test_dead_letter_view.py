from __future__ import annotations

from rich.console import Console

from squall.kafka.dead_letter_view import preview, render_table
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
    console.print(render_table([dl]))
    text = console.export_text()
    for expected in ("missing_field:tenant", "iot.events", "3", "42", '{"device_id":"d"}'):
        assert expected in text
