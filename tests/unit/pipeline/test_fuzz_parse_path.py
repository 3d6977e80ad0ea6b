"""Fuzz the whole path an accepted event travels, not only the validator: whatever the bytes, parse accepts the
message or dead-letters it with a precise reason (never a processing error, never an exception); an accepted
event packs into a batch under both multilang serializers and back unchanged, routes, feeds the windows and the
alert rules, and writes to the SQLite store; a dead letter encodes for the dead-letter topic and writes too.
The Cassandra row binding of the same events is fuzzed in tests/integration/test_cassandra_store.py."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from squall.clock import ManualClock
from squall.kafka.dead_letters import decode_dead_letter, encode_dead_letter
from squall.pipeline.alerting import AlertEngine, parse_alert_rules
from squall.pipeline.dead_letters import event_payload
from squall.pipeline.model import event_of
from squall.pipeline.parse import Parser
from squall.pipeline.routing import parse_rules, route_fields
from squall.pipeline.sqlite_store import SqliteStore
from squall.pipeline.tuples import bytes_to_text, event_entry, pack_batch, text_to_bytes, unpack_batch
from squall.windowing.definitions import parse_window_settings
from squall.windowing.manager import WindowManager
from tests.strategies import payloads

OFFSETS = itertools.count()


class Path_:
    """Every stage after parse, built once for all examples."""

    def __init__(self, folder: Path) -> None:
        self.parser = Parser({"parse": {"dedup_horizon": 1000}})
        self.store = SqliteStore({"sqlite": {"path": str(folder / "fuzz.db")}})
        self.rules = parse_rules(None)
        self.alerts = AlertEngine(parse_alert_rules({"thresholds": [{"metric": "t", "op": ">", "value": 1}]}))
        self.windows = WindowManager(parse_window_settings(None), ManualClock(), retain_closed_s=60.0)


@pytest.fixture(scope="module")
def path(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path_]:
    p = Path_(tmp_path_factory.mktemp("fuzz"))
    yield p
    p.store.close()


@settings(
    max_examples=3000,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(payload=payloads(), binary=st.booleans())
def test_any_payload_is_accepted_all_the_way_or_dead_lettered_with_a_reason(
    path: Path_, payload: bytes, binary: bool
) -> None:
    source = ("iot.events", 0, next(OFFSETS))
    parsed = path.parser.parse(payload, source)
    if parsed.duplicate:
        return
    if parsed.event is None:
        dl = parsed.dead_letter
        assert dl is not None and dl.reason and not dl.reason.startswith("processing_error"), dl
        assert decode_dead_letter(encode_dead_letter(dl)) == dl
        assert text_to_bytes(bytes_to_text(dl.payload)) == dl.payload
        path.store.write("dead_letter", dl).result(timeout=10)
        return
    event = parsed.event
    entry: Any = event_entry(event, source)
    [back] = unpack_batch(pack_batch([entry], binary))
    assert [event_of(back[0]), back[1]] == [event.to_dict(), list(source)]
    route_fields(event.type, event.tenant, event.metrics, path.rules)
    path.alerts.evaluate_fields(back[0])
    path.windows.add((event.tenant, event.device_id), event.event_id, event.ts, event.metrics, source)
    event_payload(event_of(back[0])).decode("utf-8")
    path.store.write("event", event).result(timeout=10)
