"""Counters per task and their per-component roll-up, with Storm's definitions (Storm's UI, `StatsUtil`):

- executed: bolts, tuples acked or failed; spouts, tuple trees completed (acked).
- execute latency: average time inside the component's `process` per tuple (timed around each tuple with
  `time.perf_counter_ns`, in the runner for in-process hosting, in the component's process for subprocess
  hosting, which reports its totals to the runner in a `metrics` message).
- process latency (bolts): tuple delivered to the task -> its ack or fail.
- complete latency (spouts): tuple emitted -> its tree fully acked.
- capacity (bolts): executed x execute latency / window length = the share of the window a task spent
  executing; a component's capacity is its busiest task's (as Storm's UI). Over a sliding window (`Window`).
- events: a tuple carrying a micro-batch counts its events (`EventCounter`); any other tuple counts 1.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

# Histogram buckets of execute and complete latencies: upper bounds (Prometheus `le`, inclusive) at powers
# of two nanoseconds, 2^15 ns (32.8 us) to 2^34 ns (17.2 s), so that a latency's bucket is a table look-up
# of its bit length (`BUCKET_OF_BITS[(ns - 1).bit_length()]`): no search per tuple.
_FIRST_BIT, _LAST_BIT = 15, 34
LATENCY_BUCKETS_NS: tuple[int, ...] = tuple(1 << k for k in range(_FIRST_BIT, _LAST_BIT + 1))
LATENCY_BUCKETS_S: tuple[float, ...] = tuple(b / 1e9 for b in LATENCY_BUCKETS_NS)
BUCKET_OF_BITS: tuple[int, ...] = tuple(
    min(max(k - _FIRST_BIT, 0), len(LATENCY_BUCKETS_NS)) for k in range(70)
)
# The metrics message a component process sends with its execute totals (squall.runner.bootstrap):
# params [execute ns, executes, [count per bucket of LATENCY_BUCKETS_NS, then +Inf]]
EXECUTE_METRIC = "__squall.execute"
KAFKA_LAG_METRIC = "kafka_lag"
DEFAULT_WINDOW_SECS = 10.0
SAMPLE_PERIOD_SECS = 1.0


def new_buckets() -> list[int]:
    return [0] * (len(LATENCY_BUCKETS_NS) + 1)


def bucket_of(ns: int) -> int:
    """Index in a `new_buckets()` list of a latency of `ns` nanoseconds (the first bound >= ns)."""
    return BUCKET_OF_BITS[(ns - 1).bit_length()] if ns > 0 else 0


def _array_header(b: bytes) -> tuple[int, int]:
    """(items, header bytes) of the msgpack array `b` starts with; (-1, 0) when it starts with none."""
    size = len(b)
    if not size:
        return -1, 0
    first = b[0]
    if 0x90 <= first <= 0x9F:
        return first & 0x0F, 1
    if first == 0xDC and size >= 3:
        return (b[1] << 8) | b[2], 3
    if first == 0xDD and size >= 5:
        return int.from_bytes(b[1:5], "big"), 5
    return -1, 0


def batch_len(v: Any) -> int:
    """The number of items of the packed batch `v` is (msgpack bytes of an array, or base64 text of them, as
    JSON carries bytes), read from the array's header only; -1 when `v` is not one. A header whose items
    could not fit in `v` (one byte each at least) is not one."""
    t = type(v)
    if t is bytes:
        n, head = _array_header(v)
        return n if n >= 0 and len(v) >= head + n else -1
    if t is str and len(v) >= 4 and not len(v) & 3 and v[0] in "klmn3":
        # base64 of a packed batch: fixarray 0x90-0x9f encodes to k-n, array16/32 (0xdc, 0xdd) to 3
        try:
            n, head = _array_header(base64.b64decode(v[:8], validate=True))
        except (binascii.Error, ValueError):
            return -1
        size = len(v) // 4 * 3 - (2 if v.endswith("==") else 1 if v.endswith("=") else 0)
        return n if n >= 0 and size >= head + n else -1
    return -1


def batch_index(values: Any) -> int:
    """Which of a tuple's values is a packed batch (the last one that is, the pipeline's batch fields come
    last); -1 when none is."""
    try:
        for i in range(len(values) - 1, -1, -1):
            v = values[i]
            if (type(v) is bytes or type(v) is str) and batch_len(v) >= 0:
                return i
    except TypeError:
        pass
    return -1


class EventCounter:
    """Events of the tuples one task emits, per stream: which value is the packed batch is learnt from the
    stream's first tuple (`batch_index`). The caller looks the stream up in `at` itself (one dict look-up per
    emit) and calls only for streams that carry a batch or are new: `at.get(stream, NEW) == NO_BATCH` means 1
    event. A tuple without a batch counts 1 event."""

    __slots__ = ("at",)
    NEW = -2
    NO_BATCH = -1

    def __init__(self) -> None:
        self.at: dict[str, int] = {}

    def __call__(self, stream: str, values: Any) -> int:
        at = self.at.get(stream)
        if at is None:
            at = self.at[stream] = batch_index(values)
        if at < 0:
            return 1
        try:
            n = batch_len(values[at])
        except IndexError:
            return 1
        return n if n >= 0 else 1


def events_in(values: Any) -> int:
    """Events a tuple with these values carries (one-off: no memory of its stream)."""
    i = batch_index(values)
    return batch_len(values[i]) if i >= 0 else 1


@dataclass(slots=True)
class TaskMetrics:
    emitted: int = 0  # emit calls
    transferred: int = 0  # tuples delivered to tasks (an emit to 3 tasks transfers 3)
    executed: int = 0  # bolts: tuples acked or failed; spouts: trees completed
    acked: int = 0
    failed: int = 0
    errors: int = 0
    restarts: int = 0
    latency_sum: float = 0.0  # seconds; bolts: delivery -> ack/fail; spouts: emit -> tree complete
    events: int = 0  # bolts: events of the tuples acked or failed; spouts: events of the tuples emitted
    exec_ns: int = 0  # bolts: time inside the component per tuple, summed
    exec_count: int = 0  # bolts: tuples timed
    exec_measured: bool = False  # the runner knows this task's execute time (see module docstring)
    # bolts: execute latency, spouts: complete latency; a count per bucket of LATENCY_BUCKETS_NS, then +Inf
    buckets: list[int] = field(default_factory=new_buckets)
    custom: dict[str, list[Any]] = field(default_factory=dict)  # metrics message name -> [params, count]


def custom_metric(metrics: TaskMetrics, name: str, params: Any) -> None:
    """A component's `metrics` message (Storm's ShellBolt/ShellSpout `metrics` command, as an
    IMetricsConsumer sees it): the latest data point per name, and how many arrived."""
    entry = metrics.custom.get(name)
    if entry is None:
        metrics.custom[name] = [params, 1]
    else:
        entry[0] = params
        entry[1] += 1


@dataclass
class ComponentStats:
    name: str
    kind: str
    tasks: int
    hosting: str
    emitted: int = 0
    transferred: int = 0
    executed: int = 0
    acked: int = 0
    failed: int = 0
    errors: int = 0
    restarts: int = 0
    events: int = 0
    latency_ms: float = 0.0  # bolts: avg process latency (delivery -> ack); spouts: avg complete latency
    process_ms: float | None = None  # bolts: latency_ms
    complete_ms: float | None = None  # spouts: latency_ms
    # bolts: avg execute latency over the run; None when the component's execute time is unknown (a
    # non-Python component, or a Python one not started through squall's bootstrap)
    execute_ms: float | None = None
    capacity: float | None = None  # bolts: the busiest task's capacity over the window
    window_s: float = 0.0  # the window capacity and the rates are measured over
    tuples_per_s: float = 0.0  # bolts: executed, spouts: emitted, per second over the window
    events_per_s: float = 0.0
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)  # task -> name -> {value, count}

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class Sample:
    at: float  # time.perf_counter()
    counts: dict[int, tuple[int, int, int]]  # task -> (exec_ns, tuples, events)


def _counts(kind: str, m: TaskMetrics) -> tuple[int, int, int]:
    return (m.exec_ns, m.executed if kind == "bolt" else m.emitted, m.events)


class Window:
    """A sliding window of per-task counters, sampled every SAMPLE_PERIOD_SECS: capacity and rates over the
    last `secs` seconds (Storm's UI uses 10 minutes; a local run, `secs`, 10 s by default)."""

    def __init__(self, secs: float = DEFAULT_WINDOW_SECS) -> None:
        self.secs = secs
        self.samples: deque[Sample] = deque()
        self.frozen: Sample | None = None  # the end of the window once the run stopped (spouts deactivated)

    def sample(self, tasks: Iterable[tuple[int, str, TaskMetrics]], now: float | None = None) -> Sample:
        at = time.perf_counter() if now is None else now
        s = Sample(at, {task: _counts(kind, m) for task, kind, m in tasks})
        self.samples.append(s)
        while len(self.samples) > 2 and self.samples[1].at <= at - self.secs:
            self.samples.popleft()
        return s

    def freeze(self, tasks: Iterable[tuple[int, str, TaskMetrics]], busy_until: float | None = None) -> None:
        """End the window now, or, with `busy_until` (a perf_counter time: a run that stopped on being idle),
        at the first sample after it, so the idle wait does not dilute the figures."""
        if self.frozen is not None:
            return
        if busy_until is not None:
            for s in self.samples:
                if s.at >= busy_until:
                    self.frozen = s
                    return
        self.frozen = self.sample(tasks)

    def span(
        self, tasks: Iterable[tuple[int, str, TaskMetrics]]
    ) -> tuple[float, dict[int, tuple[int, int, int]]]:
        """(seconds, task -> (exec ns, tuples, events) in those seconds): from the oldest sample inside the
        window to now (or to when the run stopped)."""
        end = self.frozen or Sample(time.perf_counter(), {t: _counts(k, m) for t, k, m in tasks})
        start = None
        for s in list(self.samples):  # a copy: a scrape reads it from another thread
            if s.at >= end.at - self.secs - 1e-9 and s.at < end.at:
                start = s
                break
        if start is None:
            return 0.0, {}
        zero = (0, 0, 0)
        deltas = {}
        for task, (e, n, ev) in end.counts.items():
            e0, n0, ev0 = start.counts.get(task, zero)
            deltas[task] = (e - e0, n - n0, ev - ev0)
        return end.at - start.at, deltas


def roll_up(
    name: str,
    kind: str,
    hosting: str,
    tasks: list[TaskMetrics],
    window_secs: float,
    deltas: list[tuple[int, int, int]] | None = None,
    task_ids: list[int] | None = None,
) -> ComponentStats:
    """One component's figures from its tasks' counters; `deltas` (exec ns, tuples, events per task over the
    last `window_secs`) give capacity and rates. Without them the whole run is the window."""
    s = ComponentStats(name=name, kind=kind, tasks=len(tasks), hosting=hosting)
    latency = 0.0
    exec_ns = exec_count = 0
    measured = bool(tasks)
    for t in tasks:
        s.emitted += t.emitted
        s.transferred += t.transferred
        s.executed += t.executed
        s.acked += t.acked
        s.failed += t.failed
        s.errors += t.errors
        s.restarts += t.restarts
        s.events += t.events
        latency += t.latency_sum
        exec_ns += t.exec_ns
        exec_count += t.exec_count
        measured = measured and t.exec_measured
    if s.executed:
        s.latency_ms = round(latency / s.executed * 1000, 4)
    if kind == "bolt":
        s.process_ms = s.latency_ms
    else:
        s.complete_ms = s.latency_ms
    if deltas is None:
        deltas = [(t.exec_ns, t.executed if kind == "bolt" else t.emitted, t.events) for t in tasks]
    s.window_s = round(window_secs, 3)
    if window_secs > 0:
        s.tuples_per_s = round(sum(d[1] for d in deltas) / window_secs, 2)
        s.events_per_s = round(sum(d[2] for d in deltas) / window_secs, 2)
    if kind == "bolt" and measured:
        s.execute_ms = round(exec_ns / exec_count / 1e6, 4) if exec_count else 0.0
        if window_secs > 0 and deltas:
            s.capacity = round(max(d[0] for d in deltas) / 1e9 / window_secs, 4)
    for i, t in enumerate(tasks):
        if t.custom:
            key = str(task_ids[i]) if task_ids is not None else str(i)
            s.metrics[key] = {n: {"value": v[0], "count": v[1]} for n, v in sorted(t.custom.items())}
    return s
