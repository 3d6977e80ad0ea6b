"""The runner's figures as pure logic: events of a tuple, the sliding window, metrics messages, the execute
timer of a component process, the live table's columns, status lines, Prometheus families."""

from __future__ import annotations

import base64
import json
from typing import Any

import msgpack
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import CollectorRegistry

from squall.observe.prometheus import Families, buckets_of
from squall.runner.bootstrap import ExecuteTimer, time_execute
from squall.runner.cluster import Summary
from squall.runner.executor import BoltExecutor
from squall.runner.metrics import (
    EXECUTE_METRIC,
    LATENCY_BUCKETS_S,
    EventCounter,
    TaskMetrics,
    Window,
    batch_len,
    bucket_of,
    custom_metric,
    events_in,
    new_buckets,
    roll_up,
)
from squall.runner.view import COLUMNS, fitting_columns, format_summary, status_line


@pytest.mark.parametrize("n", [0, 1, 15, 16, 300, 70_000])
def test_events_of_a_packed_batch_from_its_header(n: int) -> None:
    blob = msgpack.packb(list(range(n)), use_bin_type=True)
    assert events_in([blob, "other"]) == n
    assert events_in([base64.b64encode(blob).decode()]) == n  # base64 text: the JSON serializer's form


def test_the_pipeline_layouts_count_their_batches() -> None:
    blob = msgpack.packb([[0, b"x"], [1, b"y"], [2, b"z"]], use_bin_type=True)
    text = base64.b64encode(blob).decode()
    count = EventCounter()
    assert count("default", ["iot.events", 3, blob]) == 3  # the spout: [topic, partition, messages]
    assert count("default", ["iot.events", 3, msgpack.packb([1], use_bin_type=True)]) == 1
    assert count("telemetry", [17, text]) == 3  # a batch stream under JSON: [shard, base64 events]
    assert count.at == {"default": 2, "telemetry": 1}  # learnt from each stream's first tuple
    assert count("records", ["window", [{"a": 1}, {"a": 2}]]) == 1  # a plain list is a value
    assert count("records", ["window", [{"a": 1}]]) == 1 and count.at["records"] == -1
    assert batch_len(b"\x93\x01") == -1  # says 3 items, holds 1 byte: not a batch


def test_other_tuples_count_one_event() -> None:
    assert events_in(["device-1", 3]) == 1
    assert events_in([msgpack.packb({"a": 1})]) == 1  # a map, not an array
    assert events_in([b""]) == events_in([]) == events_in(None) == 1
    assert events_in([[1, 2, 3]]) == 1  # a list value is a value, not a batch
    assert events_in(["mnop-qrs"]) == 1  # not base64 ("-"): text


def test_buckets_are_prometheus_le() -> None:
    assert bucket_of(0) == 0
    assert bucket_of(int(LATENCY_BUCKETS_S[0] * 1e9)) == 0  # le is inclusive
    assert bucket_of(int(LATENCY_BUCKETS_S[0] * 1e9) + 1) == 1
    assert bucket_of(10**12) == len(LATENCY_BUCKETS_S)  # +Inf
    counts = new_buckets()
    counts[0], counts[3], counts[-1] = 2, 1, 4
    pairs = buckets_of(counts)
    assert pairs[-1] == ("+Inf", 7.0) and pairs[0] == (str(LATENCY_BUCKETS_S[0]), 2.0)
    assert [v for _, v in pairs] == sorted(v for _, v in pairs)


def test_window_measures_the_last_seconds_only() -> None:
    m = TaskMetrics(exec_measured=True)
    w = Window(secs=10)
    tasks = [(1, "bolt", m)]
    for second in range(31):  # 1 s busy of every 2 s for 30 s: capacity 0.5, 10 tuples a second
        m.exec_ns = second * 500_000_000
        m.executed = m.events = second * 10
        w.sample(tasks, now=float(second))
    m.exec_ns = 60 * 500_000_000  # the run went on: not seen once frozen
    w.frozen = w.samples[-1]
    secs, deltas = w.span(tasks)
    assert secs == 10.0 and deltas[1] == (5_000_000_000, 100, 100)
    stats = roll_up("b", "bolt", "process", [m], secs, [deltas[1]])
    assert stats.capacity == 0.5 and stats.tuples_per_s == 10.0
    assert len(w.samples) <= 12  # older samples are dropped


def test_custom_metrics_keep_the_latest_point_per_name_and_task() -> None:
    m = TaskMetrics()
    custom_metric(m, "lag", {"t/0": 5})
    custom_metric(m, "lag", {"t/0": 3})
    custom_metric(m, "seen", 7)
    stats = roll_up("s", "spout", "process", [m], 1.0, task_ids=[4])
    assert stats.metrics == {
        "4": {"lag": {"value": {"t/0": 3}, "count": 2}, "seen": {"value": 7, "count": 1}}
    }


class _Engine:
    acker = None
    now = 0.0
    timeout_secs = 30.0

    def component_metric(self, task: int, name: str, value: Any) -> None:
        self.seen = (task, name, value)


def test_execute_totals_of_a_restarted_process_add_up() -> None:
    from squall.runner.graph import ComponentDef

    comp = ComponentDef("b", "bolt", "streamparse_run", "m.B", 1, {}, {}, [], tasks=[1])
    ex = BoltExecutor(1, comp, _Engine())  # type: ignore[arg-type]
    counts = new_buckets()
    counts[2] = 3
    ex.handle({"command": "metrics", "name": EXECUTE_METRIC, "params": [3_000, 3, counts]})
    assert (ex.metrics.exec_ns, ex.metrics.exec_count, ex.metrics.exec_measured) == (3_000, 3, True)
    ex.died()  # the process is gone; its successor reports from zero
    ex.handle({"command": "metrics", "name": EXECUTE_METRIC, "params": [1_000, 1, counts]})
    assert (ex.metrics.exec_ns, ex.metrics.exec_count, ex.metrics.buckets[2]) == (4_000, 4, 6)
    ex.handle({"command": "metrics", "name": "mine", "params": {"x": 1}})
    assert ex.metrics.custom == {"mine": [{"x": 1}, 1]} and ex.engine.seen == (1, "mine", {"x": 1})


class _FakeBolt:
    """A pystorm Bolt's surface: read_tuple hands out tuples of the given streams, sent messages are kept."""

    auto_ack = True

    def __init__(self, streams: list[str]) -> None:
        self.streams = streams
        self.sent: list[dict[str, Any]] = []
        self.processed: list[str] = []
        self.acked = 0

    def read_tuple(self) -> Any:
        class Tup:
            stream = self.streams.pop(0)
            task = -1 if stream in ("__heartbeat", "__tick") else 3

        return Tup()

    @staticmethod
    def is_heartbeat(tup: Any) -> bool:
        return bool(tup.task == -1 and tup.stream == "__heartbeat")

    @staticmethod
    def is_tick(tup: Any) -> bool:
        return bool(tup.stream == "__tick")

    def process(self, tup: Any) -> None:
        self.processed.append(tup.stream)

    def process_tick(self, tup: Any) -> None:
        self.processed.append("tick")

    def ack(self, tup: Any) -> None:
        self.acked += 1

    def send_message(self, msg: dict[str, Any]) -> None:
        self.sent.append(msg)


def test_execute_timer_times_tuples_not_heartbeats_and_reports_totals() -> None:
    cls = type("Timed", (_FakeBolt,), {})
    timer = time_execute(cls, ExecuteTimer(period_secs=3600))
    bolt = cls(["default", "__tick", "__heartbeat", "default"])
    for _ in range(4):
        bolt._run()
    assert bolt.processed == ["default", "tick", "default"] and bolt.acked == 3
    assert bolt.sent[0]["name"] == EXECUTE_METRIC  # the first tuple reports at once, then every period
    assert {"command": "sync"} in bolt.sent
    assert bolt.sent[2]["params"][1] == 2  # the heartbeat reports what changed since: the tick too
    assert timer.count == 2 and sum(timer.buckets) == 3 and timer.ns > 0  # timer: what was reported
    assert time_execute(cls, timer) is timer and cls.read_tuple._squall_timed  # once only


def test_a_bolt_with_its_own_run_is_timed_between_reads() -> None:
    def own_run(self: Any) -> None:  # as pystorm's BatchingBolt: reads, and handles the tuple itself
        tup = self.read_tuple()
        if tup.stream != "__heartbeat":
            self.processed.append(tup.stream)

    base = type("Base", (_FakeBolt,), {})
    time_execute(base, ExecuteTimer(period_secs=0.0))
    cls = type("Batching", (base,), {"_run": own_run})
    bolt = cls(["default", "__heartbeat", "default", "default"])
    for _ in range(4):
        bolt._run()
    bolt.streams.append("__heartbeat")
    bolt._run()  # its read ends the last tuple's time
    msg = bolt.sent[-1]
    assert msg["command"] == "metrics" and msg["name"] == EXECUTE_METRIC
    assert msg["params"][1] == 3 and msg["params"][0] > 0 and sum(msg["params"][2]) == 3


def _summary() -> Summary:
    bolt = TaskMetrics(emitted=123456, executed=123456, acked=123456, events=1234567)
    bolt.exec_ns, bolt.exec_count, bolt.exec_measured = 10**9, 123456, True
    spout = TaskMetrics(emitted=123456, executed=123456, acked=123456, events=1234567, latency_sum=12.0)
    stats = [
        roll_up("a_rather_long_bolt_name", "bolt", "process", [bolt], 10.0, [(5 * 10**8, 12345, 123456)]),
        roll_up("source", "spout", "process", [spout], 10.0, [(0, 12345, 123456)]),
    ]
    return Summary("pipeline", "process", 10.0, "running", stats)


@pytest.mark.parametrize("width", [60, 80, 100, 200])
def test_live_table_fits_by_dropping_the_least_important_columns(width: int) -> None:
    summary = _summary()
    kept = fitting_columns(summary, width)
    text = format_summary(summary, width)
    table = text.split("\nlatency ms:")[0]
    assert max(len(line) for line in table.splitlines()) <= width or kept == ["component"]
    assert kept[0] == "component"
    importance = dict(COLUMNS)
    dropped = [h for h, _ in COLUMNS if h not in kept]
    if dropped:  # nothing kept is less important than anything dropped
        assert max(importance[h] for h in kept) <= min(importance[h] for h in dropped)
    if width >= 80:  # the figures a tuner needs stay, even beside a long component name
        assert {"tasks", "events/s", "capacity", "execute ms"} <= set(kept)
    if width >= 200:
        assert len(kept) == len(COLUMNS)


def test_status_line_names_each_component_rate_and_capacity() -> None:
    line = status_line(_summary())
    assert line.startswith("pipeline running 10s pending=0 | ")
    assert "a_rather_long_bolt_name: 12346 ev/s 1234 t/s cap=0.050 exec=0.008ms" in line
    assert "source: 12346 ev/s 1234 t/s complete=0.1ms" in line
    assert "\n" not in line and json.dumps(line)


def test_families_turn_kafka_lag_params_into_gauges() -> None:
    f = Families()
    f.lags(["t", "spout", "3"], {"iot.events/0": 12, "iot.events/11": 0, "bad": 1, "x/1": "n/a"})
    f.lags(["t", "spout", "3"], [1, 2])  # not a dict: ignored

    class One:
        def collect(self) -> Any:
            yield from f.all()

    registry = CollectorRegistry(auto_describe=False)
    registry.register(One())  # type: ignore[arg-type]
    text = generate_latest(registry).decode()
    [lag] = [fam for fam in text_string_to_metric_families(text) if fam.name == "squall_kafka_lag"]
    got = {(s.labels["topic"], s.labels["partition"]): s.value for s in lag.samples}
    assert got == {("iot.events", "0"): 12.0, ("iot.events", "11"): 0.0}


def test_the_live_table_on_an_80_column_terminal() -> None:
    import io

    from rich.console import Console

    from squall.runner.view import LiveView

    class Running:
        class graph:  # noqa: N801 - the cluster's attribute
            name = "pipeline"

        @staticmethod
        def summary(reason: str) -> Summary:
            return _summary()

    out = io.StringIO()
    console = Console(file=out, width=80, force_terminal=True, color_system=None, record=True)
    with LiveView(console) as view:
        view(Running())  # type: ignore[arg-type]
    drawn = console.export_text()
    assert "a_rather_long_bolt_name" in drawn and "events/s" in drawn and "capacity" in drawn
    rows = [line for line in drawn.splitlines() if line[:1] in "┏┃┡│└"]  # the table (redraws aside)
    assert rows and max(len(line) for line in rows) <= 80
