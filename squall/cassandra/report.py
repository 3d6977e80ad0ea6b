"""What the pipeline stored in Cassandra, summarised like squall.pipeline.report does the SQLite store.

For `squall report` on an env whose sink is Cassandra. Cassandra has no cheap COUNT or GROUP BY over a whole
table, so this reads every row of the four tables once (paged by the driver, only the columns it needs; all of
`metric_windows` for the example windows): fine for development and test keyspaces, slow on a large production
one; a tool for operators, not something to run in a loop.
"""

from __future__ import annotations

import heapq
from collections import Counter
from typing import Any

from squall.cassandra.settings import CassandraSettings
from squall.cassandra.statements import datetime_to_ms
from squall.pipeline.model import WINDOW_COLUMNS

TABLES = ("metric_windows", "events", "alerts", "dead_letters")
SCAN_TIMEOUT_S = 120.0


def _ranked(counts: Counter[str]) -> dict[str, int]:
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def summarize(settings: CassandraSettings, examples: int = 3) -> dict[str, Any]:
    """Row counts per table, dead letters by reason, alerts by kind, temperature windows by length, and the
    `examples` temperature windows with the most readings: the keys of squall.pipeline.report.summarize, with
    `store` "cassandra" and `keyspace` in place of `sqlite_path`."""
    from squall.cassandra.store import connect

    cluster, session = connect(settings, settings.keyspace)
    try:

        def scan(query: str) -> Any:
            return session.execute(query, timeout=SCAN_TIMEOUT_S)

        reasons = Counter(r.reason for r in scan("SELECT reason FROM dead_letters"))
        kinds = Counter(r.kind for r in scan("SELECT kind FROM alerts"))
        events = sum(1 for _ in scan("SELECT tenant FROM events"))
        windows = 0
        lengths: dict[int, dict[str, int]] = {}

        def temperature_rows() -> Any:
            """Every temperature window row (counting all rows and the temperature ones by length on the way)."""
            nonlocal windows
            for r in scan(f"SELECT {', '.join(WINDOW_COLUMNS)} FROM metric_windows"):
                windows += 1
                if r.metric != "temperature":
                    continue
                per = lengths.setdefault(int(r.window_s), {"windows": 0, "events": 0})
                per["windows"] += 1
                per["events"] += int(r.count)
                yield {
                    **r._asdict(),
                    "window_start": datetime_to_ms(r.window_start),
                    "window_end": datetime_to_ms(r.window_end),
                }

        # the order of squall.pipeline.report's example windows; nsmallest keeps only `examples` rows
        rows = temperature_rows()
        sample = heapq.nsmallest(
            examples,
            rows,
            key=lambda w: (-w["count"], w["window_s"], w["window_start"], w["tenant"], w["device_id"]),
        )
        for _ in rows:  # with examples=0 nsmallest reads nothing: count the rest
            pass
    finally:
        cluster.shutdown()
    return {
        "store": "cassandra",
        "keyspace": settings.keyspace,
        "rows": {
            "metric_windows": windows,
            "events": events,
            "alerts": sum(kinds.values()),
            "dead_letters": sum(reasons.values()),
        },
        "dead_letters_by_reason": _ranked(reasons),
        "alerts_by_kind": _ranked(kinds),
        "temperature_windows": dict(sorted(lengths.items())),
        "example_windows": sample,
    }
