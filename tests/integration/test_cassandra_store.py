"""`squall db init` and CassandraStore against the real Cassandra from `squall infra up`. One keyspace per run."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from collections.abc import Iterator
from concurrent.futures import wait
from dataclasses import replace
from typing import Any

import pytest
from cassandra.cluster import Session
from click.testing import CliRunner
from hypothesis import given
from hypothesis import settings as settings_
from hypothesis import strategies as st

from squall.cassandra.binding import RowBinder
from squall.cassandra.schema import add_missing_columns, apply_schema
from squall.cassandra.settings import CassandraSettings
from squall.cassandra.statements import bind_values, datetime_to_ms, insert_cql
from squall.cassandra.store import CassandraStore, connect
from squall.errors import InfraError
from squall.pipeline.model import RECORD_KINDS, Alert, DeadLetter, Event, StoredWindow, WindowResult
from squall.pipeline.parse import Parser
from tests.strategies import payloads

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
FUZZ_PARSER = Parser({"parse": {"dedup_horizon": 1000}})
FUZZ_OFFSETS = itertools.count()


@pytest.fixture(scope="module")
def settings(cassandra_address: str) -> Iterator[CassandraSettings]:
    host, _, port = cassandra_address.rpartition(":")
    s = CassandraSettings.from_section(
        {
            "contact_points": [host],
            "port": int(port),
            "keyspace": f"t_{uuid.uuid4().hex[:12]}",
            "max_in_flight": 8,
            "consistency": "LOCAL_ONE",
        }
    )
    cluster, session = connect(s)
    try:
        apply_schema(session, s)
        yield s
        session.execute(f"DROP KEYSPACE IF EXISTS {s.keyspace}", timeout=120)
    finally:
        cluster.shutdown()


@pytest.fixture
def session(settings: CassandraSettings) -> Iterator[Session]:
    cluster, session = connect(settings, settings.keyspace)
    yield session
    cluster.shutdown()


def window(i: int, count: int = 3, p95: float = 3.0) -> WindowResult:
    start = T0 + i * 10_000
    return WindowResult(
        "acme", "dev-1", "temperature", 10, start, start + 10_000, count, 6.0, 1.0, 3.0, 2.0, 2.0, p95
    )


def test_db_init_is_idempotent_and_creates_every_table(settings: CassandraSettings, session: Session) -> None:
    again = apply_schema(session, settings)  # second run: no error, same tables
    assert again == ["metric_windows", "events", "alerts", "dead_letters"]
    rows = session.execute(
        "SELECT table_name FROM system_schema.tables WHERE keyspace_name = %s", (settings.keyspace,)
    )
    assert sorted(r.table_name for r in rows) == sorted(again)


def test_squall_db_init_command(settings: CassandraSettings, cassandra_address: str) -> None:
    from squall.cli.main import cli

    result = CliRunner().invoke(cli, ["db", "init", "-e", "dev", "--keyspace", settings.keyspace])
    assert result.exit_code == 0, result.output
    assert (
        f"keyspace {settings.keyspace} ready: metric_windows, events, alerts, dead_letters" in result.output
    )


def test_every_kind_round_trips_and_replays_overwrite(settings: CassandraSettings, session: Session) -> None:
    store = CassandraStore(settings)
    try:
        records = [
            ("window", window(0)),
            (
                "event",
                Event("acme", "dev-1", "e-1", T0 + 5, "telemetry", {"temperature": 21.5}, {"fw": "1.2"}),
            ),
            ("alert", Alert("acme", "dev-1", "a-1", T0 + 5, "temperature", "threshold", 99.5, "too hot")),
            ("dead_letter", DeadLetter("invalid_json", "bad", b"\xff{", "iot.events", 2, 17, T0)),
        ]
        futures = [store.write(kind, rec) for kind, rec in records]
        futures.append(
            store.write("window", window(0, count=4, p95=3.5))
        )  # a replay with new values overwrites
        done, _ = wait(futures, timeout=60)
        assert all(f.exception() is None for f in done) and len(done) == len(futures)
    finally:
        store.close()
    rows = list(session.execute("SELECT * FROM metric_windows"))
    assert len(rows) == 1
    r = rows[0]
    assert (r.tenant, r.device_id, r.metric, r.window_s, r.count, r.p95) == (
        "acme",
        "dev-1",
        "temperature",
        10,
        4,
        3.5,
    )
    assert datetime_to_ms(r.window_start) == T0 and datetime_to_ms(r.window_end) == T0 + 10_000
    ev = session.execute("SELECT * FROM events").one()
    assert (ev.event_id, dict(ev.metrics), ev.attrs, datetime_to_ms(ev.ts)) == (
        "e-1",
        {"temperature": 21.5},
        '{"fw":"1.2"}',
        T0 + 5,
    )
    al = session.execute("SELECT * FROM alerts").one()
    assert (al.alert_id, al.kind, al.value) == ("a-1", "threshold", 99.5)
    dl = session.execute("SELECT * FROM dead_letters").one()
    assert (dl.reason, bytes(dl.payload), dl.source_partition, dl.source_offset) == (
        "invalid_json",
        b"\xff{",
        2,
        17,
    )


def test_many_writes_never_exceed_max_in_flight(settings: CassandraSettings, session: Session) -> None:
    store = CassandraStore(settings)
    peak = 0
    try:
        futures = []
        for i in range(1, 401):
            futures.append(store.write("window", window(i)))
            peak = max(peak, store.in_flight)
        done, not_done = wait(futures, timeout=120)
        assert not not_done and all(f.exception() is None for f in done)
    finally:
        store.close()
    assert 1 <= peak <= settings.max_in_flight
    assert store.written == 400 and store.in_flight == 0
    count = session.execute("SELECT count(*) FROM metric_windows").one()[0]
    assert count >= 400


def test_unknown_keyspace_and_unreachable_host_are_clear_errors(settings: CassandraSettings) -> None:
    with pytest.raises(InfraError, match="squall db init"):
        CassandraStore(replace(settings, keyspace="no_such_keyspace_here"))
    with pytest.raises(InfraError, match="squall infra up"):
        CassandraStore(replace(settings, port=1, connect_timeout_s=2.0))


def test_has_window_reads_the_row_in_the_writers_day_bucket(settings: CassandraSettings) -> None:
    """Aggregate's recovery oracle: a point read of the full key, the day bucket computed as the writer's."""
    store = CassandraStore(settings)
    try:
        day_end = T0 + 86_400_000 - 10_000  # the last 10 s window of a day: its end is in the next day
        late_window = WindowResult(
            "acme", "dev-9", "humidity", 10, day_end, day_end + 10_000, 1, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0
        )
        assert not store.has_window("acme", "dev-9", "humidity", 10, day_end)
        store.write("window", late_window).result(timeout=60)
        assert store.has_window("acme", "dev-9", "humidity", 10, day_end)
        assert not store.has_window("acme", "dev-9", "humidity", 60, day_end)
        assert not store.has_window("acme", "dev-9", "temperature", 10, day_end)
        assert not store.has_window("acme", "dev-9", "humidity", 10, day_end - 10_000)
        day = day_end // 86_400_000
        assert store.window_starts_on_day("acme", "dev-9", "humidity", 10, day) == {
            day_end: StoredWindow(None, None)
        }
        assert store.window_starts_on_day("acme", "dev-9", "humidity", 10, day + 1) == {}
        assert store.window_starts_on_day("acme", "dev-9", "humidity", 60, day) == {}
        # the batched form a restarted aggregate prefetches with: one request per device and day
        other = replace(late_window, metric="temperature", window_s=60, window_start=day_end - 50_000)
        store.write("window", other).result(timeout=60)
        found = store.window_starts_of_days(
            [
                ("acme", "dev-9", day, ("humidity", "temperature"), (10, 60)),
                ("acme", "dev-9", day + 1, ("humidity",), (10,)),
                ("acme", "dev-0", day, ("humidity",), (10, 60)),
            ]
        )
        assert found == [
            {
                ("humidity", 10): {day_end: StoredWindow(None, None)},
                ("humidity", 60): {},
                ("temperature", 10): {},
                ("temperature", 60): {day_end - 50_000: StoredWindow(None, None)},
            },
            {("humidity", 10): {}},
            {("humidity", 10): {}, ("humidity", 60): {}},
        ]
    finally:
        store.close()


def test_a_provisional_rows_draft_is_kept_until_a_final_emit_clears_it(
    settings: CassandraSettings, session: Session
) -> None:
    """A row written with a draft reads back with it; a write without one (None: UNSET) leaves it, so rows that
    never had a draft carry no cell; an empty draft (the final emit) clears it. A keyspace made before the draft
    column gets it from `squall db init` (apply_schema)."""
    store = CassandraStore(settings)
    try:
        provisional = replace(window(0), device_id="dev-draft", draft='[["e1","e2"],[1.0,5.0]]')
        store.write_many("window", [provisional]).pop().result(timeout=60)
        day = T0 // 86_400_000
        assert store.window_starts_on_day("acme", "dev-draft", "temperature", 10, day) == {
            T0: StoredWindow(provisional.draft, None)
        }
        # no draft given: the stored one stays
        store.write("window", replace(provisional, draft=None)).result(timeout=60)
        assert store.window_starts_of_days([("acme", "dev-draft", day, ("temperature",), (10,))]) == [
            {("temperature", 10): {T0: StoredWindow(provisional.draft, None)}}
        ]
        store.write("window", replace(provisional, draft="", source='["iot.events",3,41,7]')).result(
            timeout=60
        )
        assert store.window_starts_on_day("acme", "dev-draft", "temperature", 10, day) == {
            T0: StoredWindow("", '["iot.events",3,41,7]')
        }
    finally:
        store.close()
    session.execute(f"ALTER TABLE {settings.keyspace}.metric_windows DROP draft")
    session.execute(f"ALTER TABLE {settings.keyspace}.metric_windows DROP source")
    assert add_missing_columns(session, settings.keyspace) == [
        "metric_windows.draft",
        "metric_windows.source",
    ]
    assert add_missing_columns(session, settings.keyspace) == []


def test_write_many_batches_rows_per_partition_and_every_row_lands(
    settings: CassandraSettings, session: Session
) -> None:
    store = CassandraStore(replace(settings, batch_rows=4, batch_grouping="partition"))
    try:
        # 10 events of one device (one partition: 3 batches of <= 4 rows) and 3 of three other devices
        events = [
            Event("acme", "dev-b", f"b{i}", T0 + i, "telemetry", {"t": float(i)}, {}) for i in range(10)
        ] + [Event("acme", f"dev-{d}", f"x{d}", T0, "telemetry", {"t": 1.0}, {}) for d in "xyz"]
        futures = store.write_many("event", events)
        assert len(futures) == len(events)
        assert len({id(f) for f in futures[:10]}) == 3  # rows of one batch share its Future
        assert len({id(f) for f in futures}) == 6
        wait(futures, timeout=60)
        assert all(f.exception() is None for f in futures)
        assert store.written == 13
        rows = session.execute(
            "SELECT event_id FROM events WHERE tenant = 'acme' AND device_id = 'dev-b' AND day = '2026-01-01'"
        )
        assert sorted(r.event_id for r in rows) == [f"b{i}" for i in range(10)]
        again = store.write_many("event", events[:5])  # a replay overwrites: still 10 rows
        wait(again, timeout=60)
        rows = session.execute(
            "SELECT COUNT(*) FROM events WHERE tenant = 'acme' AND device_id = 'dev-b' AND day = '2026-01-01'"
        )
        assert rows.one()[0] == 10
    finally:
        store.close()


def test_write_many_by_replica_set_packs_partitions_that_share_replicas(
    settings: CassandraSettings, session: Session
) -> None:
    store = CassandraStore(replace(settings, batch_rows=4))  # batch_grouping "replica_set" is the default
    try:
        events = [Event("acme", f"dev-r{i}", f"r{i}", T0, "telemetry", {"t": 1.0}, {}) for i in range(10)]
        futures = store.write_many("event", events)
        assert len({id(f) for f in futures}) == 3  # one node holds every partition: 10 rows in 3 batches
        wait(futures, timeout=60)
        assert all(f.exception() is None for f in futures)
        for i in range(10):
            got = session.execute(
                "SELECT COUNT(*) FROM events WHERE tenant = 'acme' AND device_id = %s AND day = '2026-01-01'",
                (f"dev-r{i}",),
            )
            assert got.one()[0] == 1
    finally:
        store.close()


def test_late_offsets_reads_the_late_dead_letters_of_an_offset_range(settings: CassandraSettings) -> None:
    """Aggregate's restart lookup: which replayed source offsets a previous instance dead-lettered as late."""
    store = CassandraStore(settings)
    try:
        topic = f"late.{uuid.uuid4().hex[:6]}"
        letters = [
            DeadLetter("late", "behind", b"{}", topic, 1, 5, T0),
            DeadLetter("invalid_json", "bad", b"{", topic, 1, 6, T0),
            DeadLetter("late", "behind", b"{}", topic, 1, 1_000_003, T0),  # the next offset bucket
            DeadLetter("late", "behind", b"{}", topic, 2, 7, T0),  # another partition
        ]
        wait([store.write("dead_letter", d) for d in letters], timeout=60)
        assert store.late_offsets(topic, 1, 0, 1_000_000) == {5}
        assert store.late_offsets(topic, 1, 0, 2_000_000) == {5, 1_000_003}
        assert store.late_offsets(topic, 1, 6, 1_000_000) == set()
        assert store.late_offsets(topic, 2, 0, 1_000_000) == {7}
    finally:
        store.close()


@settings_(max_examples=200, deadline=None)
@given(
    tenant=st.text(min_size=1, max_size=20),
    ts=st.integers(min_value=-62_135_596_800_000, max_value=253_402_300_799_999),  # the years 1..9999
    metrics=st.dictionaries(st.text(max_size=10), st.floats(allow_nan=False), max_size=5),
    attrs=st.one_of(st.none(), st.text(max_size=30)),
    nothing=st.booleans(),
)
def test_row_binder_binds_exactly_what_the_driver_binds(
    prepared_inserts: dict[str, Any],
    tenant: str,
    ts: int,
    metrics: dict[str, float],
    attrs: str | None,
    nothing: bool,
) -> None:
    """RowBinder's fast path (int ms timestamps, datetime.date days, the driver's serializers otherwise) makes
    the same bytes and routing key as PreparedStatement.bind, for every record kind's INSERT."""
    day = dt.date(1970, 1, 1) + dt.timedelta(days=ts // 86_400_000)
    rows = {
        "event": (tenant, "d", day, ts, "e1", "telemetry", None if nothing else metrics, attrs),
        "window": (tenant, "d", "m", 10, day, ts, ts + 10_000, 3, 1.5, -1.0, 2.0, 0.5, 1.0, None),
        "alert": (tenant, "d", day, ts, "a1", "m", "threshold", 2.5, attrs),
        "dead_letter": ("iot.events", 3, ts // 1_000_000, ts, "invalid_json", "detail", b"\xff\x00", ts),
    }
    for kind, values in rows.items():
        prepared = prepared_inserts[kind]
        fast, driver = RowBinder(prepared).bind(values), prepared.bind(values)
        assert fast.values == driver.values, kind
        assert fast.routing_key == driver.routing_key, kind


def test_row_binder_reports_a_bad_value_as_the_driver_does(prepared_inserts: dict[str, Any]) -> None:
    values = ("acme", "d", dt.date(2026, 1, 1), "not a timestamp", "e1", "telemetry", {}, None)
    with pytest.raises(TypeError, match='column "ts"'):
        RowBinder(prepared_inserts["event"]).bind(values)


@pytest.fixture(scope="module")
def prepared_inserts(settings: CassandraSettings) -> Iterator[dict[str, Any]]:
    cluster, session = connect(settings, settings.keyspace)
    try:
        yield {kind: session.prepare(insert_cql(settings.keyspace, kind)) for kind in RECORD_KINDS}
    finally:
        cluster.shutdown()


@settings_(max_examples=1500, deadline=None)
@given(payload=payloads())
def test_fuzz_every_accepted_event_and_every_dead_letter_binds_to_its_cassandra_row(
    prepared_inserts: dict[str, Any], payload: bytes
) -> None:
    """The last step of the path an accepted value travels: whatever parse accepts (or dead-letters) binds to
    its Cassandra INSERT, through RowBinder and the driver's own bind alike."""
    parsed = FUZZ_PARSER.parse(payload, ("iot.events", 0, next(FUZZ_OFFSETS)))
    if parsed.event is not None:
        kind, record = "event", parsed.event
    elif parsed.dead_letter is not None:
        kind, record = "dead_letter", parsed.dead_letter
        assert not record.reason.startswith("processing_error"), record
    else:
        return
    values = bind_values(kind, record)
    fast, driver = RowBinder(prepared_inserts[kind]).bind(values), prepared_inserts[kind].bind(values)
    assert fast.values == driver.values
