from __future__ import annotations

from squall.cassandra.schema import (
    SCHEMA_FILE,
    render_replication,
    render_schema,
    strip_comments,
    table_names,
)
from squall.cassandra.settings import CassandraSettings


def test_schema_file_renders_for_keyspace_and_replication() -> None:
    s = CassandraSettings.from_section(
        {"keyspace": "t_123", "replication": {"class": "NetworkTopologyStrategy", "dc1": 3}}
    )
    stmts = render_schema(s)
    assert SCHEMA_FILE.is_file()
    assert stmts[0] == (
        "CREATE KEYSPACE IF NOT EXISTS t_123 WITH replication = {'class': 'NetworkTopologyStrategy', 'dc1': 3}"
    )
    assert table_names(stmts) == ["metric_windows", "events", "alerts", "dead_letters"]
    assert all("IF NOT EXISTS" in st for st in stmts)
    assert not any("$" in st or "--" in st for st in stmts)


def test_metric_windows_has_the_required_columns_and_a_day_bucket() -> None:
    stmts = render_schema(CassandraSettings())
    mw = next(s for s in stmts if "squall.metric_windows" in s)
    for col in (
        "tenant text",
        "device_id text",
        "metric text",
        "window_s int",
        "window_start timestamp",
        "window_end timestamp",
        "count bigint",
        "sum double",
        "min double",
        "max double",
        "mean double",
        "p50 double",
        "p95 double",
    ):
        assert col in mw
    assert "PRIMARY KEY ((tenant, device_id, metric, window_s, day), window_start)" in mw


def test_replication_literal_and_comment_stripping() -> None:
    assert render_replication({"class": "SimpleStrategy", "replication_factor": 1}) == (
        "{'class': 'SimpleStrategy', 'replication_factor': 1}"
    )
    assert strip_comments("a -- x\n/* y\n z */b // w").split() == ["a", "b"]


def test_custom_text_renders() -> None:
    stmts = render_schema(
        CassandraSettings(), "CREATE TABLE IF NOT EXISTS ${keyspace}.x (a int PRIMARY KEY);;"
    )
    assert stmts == ["CREATE TABLE IF NOT EXISTS squall.x (a int PRIMARY KEY)"]
