"""Render infra/cql/schema.cql for one keyspace and replication, and apply it (`squall db init`).

The file holds `${keyspace}` and `${replication}` placeholders; everything else is plain CQL, every
statement idempotent (IF NOT EXISTS). An existing keyspace keeps its replication: change it with ALTER KEYSPACE.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from string import Template
from typing import Any

from squall.cassandra.settings import CassandraSettings

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "infra" / "cql" / "schema.cql"


def render_replication(replication: Mapping[str, Any]) -> str:
    """{'class': 'SimpleStrategy', 'replication_factor': 1} as a CQL map literal."""
    parts = []
    for key, value in replication.items():
        rendered = f"'{value}'" if isinstance(value, str) else str(int(value))
        parts.append(f"'{key}': {rendered}")
    return "{" + ", ".join(parts) + "}"


def strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return "\n".join(re.sub(r"(--|//).*$", "", line) for line in text.splitlines())


def render_schema(settings: CassandraSettings, text: str | None = None) -> list[str]:
    """The schema's statements, in order, for `settings.keyspace` and `settings.replication`."""
    source = SCHEMA_FILE.read_text() if text is None else text
    filled = Template(source).substitute(
        keyspace=settings.keyspace, replication=render_replication(settings.replication)
    )
    statements = [" ".join(s.split()) for s in strip_comments(filled).split(";")]
    return [s for s in statements if s]


def table_names(statements: list[str]) -> list[str]:
    out = []
    for stmt in statements:
        m = re.match(r"CREATE TABLE IF NOT EXISTS \w+\.(\w+)", stmt, flags=re.I)
        if m:
            out.append(m.group(1))
    return out


def apply_schema(session: Any, settings: CassandraSettings, timeout_s: float = 60.0) -> list[str]:
    """Run every statement (idempotent); return the tables the keyspace now has from the schema."""
    statements = render_schema(settings)
    for stmt in statements:
        session.execute(stmt, timeout=timeout_s)
    add_missing_columns(session, settings.keyspace, timeout_s)
    return table_names(statements)


# Columns added to a table after its first release: a keyspace made before gets them (`CREATE TABLE IF NOT EXISTS`
# leaves an existing table as it is). (table, column, CQL type)
ADDED_COLUMNS = (("metric_windows", "draft", "text"), ("metric_windows", "source", "text"))


def add_missing_columns(session: Any, keyspace: str, timeout_s: float = 60.0) -> list[str]:
    """ALTER the tables of `keyspace` that lack a column of ADDED_COLUMNS; returns the columns added."""
    added = []
    for table, column, cql_type in ADDED_COLUMNS:
        rows = session.execute(
            "SELECT column_name FROM system_schema.columns WHERE keyspace_name = %s AND table_name = %s",
            (keyspace, table),
            timeout=timeout_s,
        )
        if column not in {r.column_name for r in rows}:
            session.execute(f"ALTER TABLE {keyspace}.{table} ADD {column} {cql_type}", timeout=timeout_s)
            added.append(f"{table}.{column}")
    return added
