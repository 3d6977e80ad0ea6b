"""CassandraStore's reads for the dashboard's pipeline page, against the real Cassandra from `squall infra up`:
the stored series, a series' newest windows across UTC days, the newest alerts and dead letters."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import wait

import pytest

from squall.cassandra.schema import apply_schema
from squall.cassandra.settings import CassandraSettings
from squall.cassandra.store import CassandraStore, connect
from squall.pipeline.model import DAY_MS, Alert, DeadLetter, WindowResult

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


@pytest.fixture(scope="module")
def store(cassandra_address: str) -> Iterator[CassandraStore]:
    host, _, port = cassandra_address.rpartition(":")
    settings = CassandraSettings.from_section(
        {
            "contact_points": [host],
            "port": int(port),
            "keyspace": f"t_web_{uuid.uuid4().hex[:10]}",
            "max_in_flight": 8,
            "consistency": "LOCAL_ONE",
        }
    )
    cluster, session = connect(settings)
    try:
        apply_schema(session, settings)
        s = CassandraStore(settings)
        yield s
        s.close()
        session.execute(f"DROP KEYSPACE IF EXISTS {settings.keyspace}", timeout=120)
    finally:
        cluster.shutdown()


def test_reads_newest_first(store: CassandraStore) -> None:
    futures = []
    # 3 windows late on day 0 and 2 early on day 1: the series spans two day partitions
    for start in (
        T0 + DAY_MS - 30_000,
        T0 + DAY_MS - 20_000,
        T0 + DAY_MS - 10_000,
        T0 + DAY_MS,
        T0 + DAY_MS + 10_000,
    ):
        i = (start - T0) // 10_000
        futures.append(
            store.write(
                "window",
                WindowResult(
                    "acme",
                    "dev-1",
                    "temp",
                    10,
                    start,
                    start + 10_000,
                    int(i % 50) + 1,
                    1.0,
                    0.0,
                    2.0,
                    1.0,
                    1.0,
                    1.9,
                ),
            )
        )
    futures.append(
        store.write(
            "window",
            WindowResult("acme", "dev-2", "hum", 60, T0, T0 + 60_000, 4, 8.0, 1.0, 3.0, 2.0, 2.0, 2.9),
        )
    )
    for k in range(3):
        futures.append(
            store.write(
                "alert",
                Alert("acme", f"dev-{k}", f"a{k}", T0 + k * 1000, "temp", "threshold", 90.0 + k, f"hot {k}"),
            )
        )
        futures.append(
            store.write(
                "dead_letter",
                DeadLetter("invalid_json", "bad", b"{oops" + bytes([k]), "iot.events", 0, k, T0 + k * 1000),
            )
        )
    done, _ = wait(futures, timeout=60)
    assert all(f.exception() is None for f in done) and len(done) == len(futures)

    assert store.window_series() == [("acme", "dev-1", "temp", 10), ("acme", "dev-2", "hum", 60)]
    windows = store.recent_windows("acme", "dev-1", "temp", 10, limit=4)
    assert [w.window_start for w in windows] == [
        T0 + DAY_MS + 10_000,
        T0 + DAY_MS,
        T0 + DAY_MS - 10_000,
        T0 + DAY_MS - 20_000,
    ]
    assert windows[0].p95 == 1.9 and windows[0].window_end == T0 + DAY_MS + 20_000
    assert [a.alert_id for a in store.recent_alerts(limit=2)] == ["a2", "a1"]
    letters = store.recent_dead_letters()
    assert [d.source_offset for d in letters] == [2, 1, 0] and letters[0].payload == b"{oops\x02"
