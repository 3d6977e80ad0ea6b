from __future__ import annotations

import datetime as dt

import pytest

from squall.cassandra.statements import bind_values, insert_cql, utc_day
from squall.errors import ConfigError
from squall.pipeline.model import Alert, DeadLetter, Event, WindowResult

DAY = 86_400_000


def test_utc_day_boundaries() -> None:
    assert utc_day(0) == dt.date(1970, 1, 1)
    assert utc_day(DAY - 1) == dt.date(1970, 1, 1)
    assert utc_day(DAY) == dt.date(1970, 1, 2)
    assert utc_day(1_700_000_000_000) == dt.date(2023, 11, 14)


def test_insert_columns_match_bind_values() -> None:
    w = WindowResult(
        "t", "d", "temp", 60, 1_700_000_040_000, 1_700_000_100_000, 3, 6.0, 1.0, 3.0, 2.0, 2.0, 3.0
    )
    cql = insert_cql("ks", "window")
    assert cql.startswith(
        "INSERT INTO ks.metric_windows (tenant, device_id, metric, window_s, day, window_start,"
    )
    values = bind_values("window", w)
    assert cql.count("?") == len(values)
    assert values[4] == utc_day(w.window_start) and values[5] == w.window_start


def test_every_kind_binds() -> None:
    records = {
        "event": Event("t", "d", "e1", 5, "reading", {"temp": 1.5}, {"fw": "1"}),
        "alert": Alert("t", "d", "a1", 5, "temp", "threshold", 99.0, "too hot"),
        "dead_letter": DeadLetter("invalid_json", "x", b"\x00", "iot.events", 1, 2_000_001, 7),
    }
    for kind, record in records.items():
        values = bind_values(kind, record)
        assert insert_cql("k", kind).count("?") == len(values)
    assert bind_values("event", records["event"])[-1] == '{"fw":"1"}'
    assert bind_values("dead_letter", records["dead_letter"])[2] == 2  # offset bucket


def test_wrong_kind_or_record_type_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="record kind"):
        insert_cql("k", "windows")
    with pytest.raises(ConfigError, match="takes a WindowResult"):
        bind_values("window", Alert("t", "d", "a", 1, "m", "k", 1.0, "x"))


def test_datetime_to_ms_round_trips_naive_utc() -> None:
    from squall.cassandra.statements import datetime_to_ms

    assert datetime_to_ms(dt.datetime(2026, 1, 1)) == 1_767_225_600_000
    assert datetime_to_ms(dt.datetime(1970, 1, 1, 0, 0, 0, 1000, tzinfo=dt.UTC)) == 1


def test_timestamped_insert_binds_the_write_time_last() -> None:
    from squall.cassandra.statements import timestamped_insert_cql

    cql = timestamped_insert_cql("ks", "window")
    assert cql.startswith(insert_cql("ks", "window")) and cql.endswith(" USING TIMESTAMP ?")
    assert cql.count("?") == insert_cql("ks", "window").count("?") + 1


def test_batches_close_at_the_row_limit_or_the_byte_limit_and_a_heavy_row_goes_alone() -> None:
    from squall.cassandra.store import _chunks, _weight

    assert _weight(("acme", b"xy", 3, 2.5)) == 4 + 2 + 16 + 16
    weights = [100, 100, 100, 5_000, 100, 100, 100, 100]
    indexes = list(range(len(weights)))
    assert _chunks(indexes, weights, 3, 1_000) == [[0, 1, 2], [3], [4, 5, 6], [7]]
    assert _chunks(indexes, weights, 50, 1_000) == [[0, 1, 2], [3], [4, 5, 6, 7]]
    assert _chunks([], weights, 3, 1_000) == []


def test_a_window_row_without_a_draft_or_source_leaves_the_stored_ones_and_an_empty_draft_clears_it() -> None:
    from dataclasses import replace

    from cassandra.query import UNSET_VALUE

    from squall.cassandra.statements import bind_values, insert_cql
    from squall.pipeline.model import WindowResult

    row = WindowResult("acme", "d1", "t", 10, 0, 10_000, 1, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0)
    assert insert_cql("ks", "window").split(") VALUES")[0].endswith("p95, draft, source")
    assert bind_values("window", row)[-2:] == (UNSET_VALUE, UNSET_VALUE)
    marked = replace(row, draft="", source='["iot.events",0,7,5]')
    assert bind_values("window", marked)[-2:] == ("", '["iot.events",0,7,5]')
