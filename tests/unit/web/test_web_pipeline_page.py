"""The pipeline data page read from a real SQLite store (the embedded default): windows of the chosen series,
dead letters by reason per minute with payload previews, recent alerts."""

from __future__ import annotations

from pathlib import Path

from squall.pipeline.model import Alert, DeadLetter, WindowResult
from squall.pipeline.sqlite_store import SqliteStore
from squall.web import pages
from squall.web.pipeline_page import (
    StoreReader,
    dead_letter_buckets,
    parse_series,
    pipeline_context,
    preview,
    series_key,
)
from tests.unit.web.test_web_pages import parse

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def _fill(path: Path) -> dict[str, object]:
    settings = {"sqlite": {"path": str(path)}}
    store = SqliteStore(settings)
    for i in range(12):
        start = T0 + i * 10_000
        store.write(
            "window",
            WindowResult(
                "acme", "dev-1", "temp", 10, start, start + 10_000, i + 1, 10.0, 1.0, 9.0 + i, 5.0, 5.0, 8.5
            ),
        )
    store.write(
        "window", WindowResult("acme", "dev-2", "hum", 60, T0, T0 + 60_000, 4, 8.0, 1.0, 3.0, 2.0, 2.0, 2.9)
    )
    store.write("alert", Alert("acme", "dev-1", "a1", T0 + 5_000, "temp", "threshold", 99.5, "temp above 90"))
    store.write("alert", Alert("acme", "dev-2", "a2", T0 + 9_000, "hum", "anomaly", 3.0, "hum <unusual>"))
    for offset, (reason, minute) in enumerate(
        [("invalid_json", 0), ("invalid_json", 0), ("late", 1), ("invalid_json", 2)]
    ):
        payload = b'{"tenant": "acme", broken' if reason == "invalid_json" else b"\xff\xfe late one"
        store.write(
            "dead_letter",
            DeadLetter(
                reason, f"detail {offset}", payload, "iot.events", 0, offset, T0 + minute * 60_000 + offset
            ),
        )
    store.close()
    return settings


def test_store_reads_newest_first(tmp_path: Path) -> None:
    store = SqliteStore(_fill(tmp_path / "p.db"))
    try:
        assert store.window_series() == [("acme", "dev-1", "temp", 10), ("acme", "dev-2", "hum", 60)]
        windows = store.recent_windows("acme", "dev-1", "temp", 10, limit=5)
        assert [w.count for w in windows] == [12, 11, 10, 9, 8]
        assert [a.alert_id for a in store.recent_alerts()] == ["a2", "a1"]
        letters = store.recent_dead_letters()
        assert [d.source_offset for d in letters] == [3, 2, 1, 0] and isinstance(letters[0].payload, bytes)
    finally:
        store.close()


def test_page_shows_the_chosen_series_dead_letters_and_alerts(tmp_path: Path) -> None:
    reader = StoreReader(_fill(tmp_path / "p.db"))
    with reader.open() as store:
        context = pipeline_context(store, {"series": ["acme/dev-1/temp/10"]})
    assert context["chosen"] == "acme/dev-1/temp/10"
    assert [w.count for w in context["windows"]] == list(range(1, 13))  # oldest first on the chart
    html = pages.render_pipeline(context, reader.where)
    doc = parse(html)
    assert doc.tables["windows"][1][1] == ("num", "12")  # the newest window first in the table
    assert html.count('class="count"') == 12  # a count bar per window
    assert '<polygon class="band"' in html and '<polyline class="p95"' in html
    reasons = {row[1][1] for row in doc.tables["dead-letters"] if row}
    assert reasons == {"invalid_json", "late"}
    assert "\\xff\\xfe late one" in html  # undecodable bytes shown escaped
    assert html.count('class="dead"') == 3  # minute 0 and 2: invalid_json; minute 1: late
    alerts = [row for row in doc.tables["alerts"] if row]
    assert alerts[0][5] == ("", "hum <unusual>")  # escaped, shown as text
    assert "SQLite" in reader.where


def test_unknown_series_falls_back_to_the_first(tmp_path: Path) -> None:
    reader = StoreReader(_fill(tmp_path / "p.db"))
    with reader.open() as store:
        assert pipeline_context(store, {"series": ["nope"]})["chosen"] == "acme/dev-1/temp/10"


def test_empty_store_and_unconfigured_server(tmp_path: Path) -> None:
    reader = StoreReader({"sqlite": {"path": str(tmp_path / "empty.db")}})
    with reader.open() as store:
        html = pages.render_pipeline(pipeline_context(store, {}), reader.where)
    assert "no windows stored" in html and "no dead letters" in html
    assert 'id="pipeline-unconfigured"' in pages.render_pipeline(None)


def test_pure_helpers() -> None:
    assert parse_series(series_key("t/x", "d", "m", 10)) == ("t/x", "d", "m", 10)
    assert parse_series("a/b/c/x") is None
    assert preview(b"a\nb" + b"x" * 200, 10) == "a⏎bxxxxxxx…"
    letters = [
        DeadLetter(r, "", b"", "t", 0, i, ts) for i, (r, ts) in enumerate([("a", 1), ("b", 2), ("a", 61_000)])
    ]
    assert dead_letter_buckets(letters) == (["a", "b"], [(0, {"a": 1, "b": 1}), (60_000, {"a": 1})])
