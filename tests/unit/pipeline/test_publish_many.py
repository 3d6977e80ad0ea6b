"""Publishing a batch of records under one Future: the fallback that gathers one `publish` per record, and the
embedded publisher's own `publish_many` (one transaction, replays are no-ops)."""

from __future__ import annotations

import sqlite3
import threading
from concurrent.futures import Future
from pathlib import Path

import pytest

from squall.pipeline.publishing import gather, publish_many
from squall.pipeline.sqlite_store import EmbeddedPublisher


class Held:
    """A publisher with only `publish`, whose sends complete when the test says."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, bytes, Future[None]]] = []

    def publish(self, topic: str, key: bytes | None, value: bytes) -> Future[None]:
        f: Future[None] = Future()
        self.sent.append((topic, key, value, f))
        return f

    def close(self) -> None:
        pass


def test_without_publish_many_each_record_is_published_and_the_future_waits_for_all() -> None:
    held = Held()
    done = publish_many(held, "t", [(b"k1", b"v1"), (None, b"v2"), (b"k3", b"v3")])
    assert [(t, k, v) for t, k, v, _ in held.sent] == [
        ("t", b"k1", b"v1"),
        ("t", None, b"v2"),
        ("t", b"k3", b"v3"),
    ]
    held.sent[2][3].set_result(None)
    held.sent[0][3].set_result(None)
    assert not done.done()
    held.sent[1][3].set_result(None)
    assert done.result(timeout=0) is None


def test_the_first_failure_fails_the_batch_and_later_outcomes_change_nothing() -> None:
    held = Held()
    done = publish_many(held, "t", [(b"a", b"1"), (b"b", b"2")])
    held.sent[1][3].set_exception(RuntimeError("broker said no"))
    with pytest.raises(RuntimeError, match="broker said no"):
        done.result(timeout=0)
    held.sent[0][3].set_result(None)  # a late success does not turn the batch into a success
    assert isinstance(done.exception(timeout=0), RuntimeError)


def test_an_empty_batch_is_done_at_once() -> None:
    assert gather([]).result(timeout=0) is None
    assert publish_many(Held(), "t", []).result(timeout=0) is None


def test_futures_finishing_on_many_threads_complete_the_batch_exactly_once() -> None:
    futures: list[Future[None]] = [Future() for _ in range(2000)]
    done = gather(futures)
    calls: list[None] = []
    done.add_done_callback(lambda _f: calls.append(None))
    threads = [
        threading.Thread(target=lambda part=part: [f.set_result(None) for f in part])  # type: ignore[misc]
        for part in (futures[i::8] for i in range(8))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert done.result(timeout=5) is None and len(calls) == 1


def test_the_embedded_publisher_writes_a_batch_at_once_and_a_replay_adds_nothing(tmp_path: Path) -> None:
    settings = {"source": "simulator", "sink": "sqlite", "sqlite": {"path": str(tmp_path / "s.db")}}
    publisher = EmbeddedPublisher(settings)
    records = [(b"k1", b"v1"), (None, b"v2")]
    assert publish_many(publisher, "iot.alerts", records).result(timeout=0) is None
    assert publish_many(publisher, "iot.alerts", records).result(timeout=0) is None  # a replay
    publisher.close()
    with sqlite3.connect(tmp_path / "s.db") as db:
        rows = db.execute("SELECT topic, key, value FROM published ORDER BY rowid").fetchall()
    assert rows == [("iot.alerts", b"k1", b"v1"), ("iot.alerts", b"", b"v2")]
