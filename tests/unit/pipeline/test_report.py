"""The run report reads back what the SQLite store holds."""

from __future__ import annotations

from pathlib import Path

from squall.pipeline.model import DeadLetter, WindowResult
from squall.pipeline.report import after_run, summarize
from squall.pipeline.sqlite_store import SqliteStore

T0 = 1_767_225_600_000


def test_report_counts_rows_reasons_and_shows_example_windows(tmp_path: Path) -> None:
    settings = {"sink": "sqlite", "sqlite": {"path": str(tmp_path / "r.db")}}
    store = SqliteStore(settings)
    for i, count in enumerate([3, 5]):
        row = WindowResult(
            "acme", f"d{i}", "temperature", 10, T0, T0 + 10_000, count, 1.0, 0.0, 1.0, 0.5, 0.5, 1.0
        )
        store.write("window", row).result(timeout=1)
    store.write("dead_letter", DeadLetter("invalid_json", "x", b"{", "iot.events", 0, 1, T0)).result(
        timeout=1
    )
    store.write("dead_letter", DeadLetter("invalid_json", "x", b"{", "iot.events", 0, 1, T0)).result(
        timeout=1
    )
    store.close()
    summary = summarize(tmp_path / "r.db")
    assert summary["rows"]["metric_windows"] == 2 and summary["rows"]["dead_letters"] == 1  # upsert
    assert summary["dead_letters_by_reason"] == {"invalid_json": 1}
    assert [w["count"] for w in summary["example_windows"]] == [5, 3]
    text = after_run({"squall.pipeline": settings})
    assert str(tmp_path / "r.db") in text and "metric_windows=2" in text and "acme/d1 10s" in text
    assert "nothing was persisted" in after_run(
        {"squall.pipeline": {"sqlite": {"path": str(tmp_path / "no.db")}}}
    )
