"""Bytes of memory per entry of each bounded state of the pipeline (`python -m bench.memory`), by tracemalloc:
what docs/pipeline.md's "Memory bounds" sizes its limits with. Results go through bench.machine.write_result.

- window_live_key: a (tenant, device) with one event in each of two open windows (10 s + 60 s), one metric;
- window_live_key_10_events: the same with 10 events of 2 metrics in each window;
- window_closed: a retained final closed window that counted 10 events of 2 metrics;
- dedup_id: one remembered (tenant, event_id) of parse's Deduplicator;
- alert_device: a device's alert state with 2 EWMAs and one remembered event id.
"""

from __future__ import annotations

import argparse
import tracemalloc
from collections.abc import Callable
from typing import Any

from bench.machine import write_result
from squall.clock import ManualClock
from squall.pipeline.alerting import AlertEngine, parse_alert_rules
from squall.pipeline.dedup import Deduplicator
from squall.windowing.definitions import WindowSettings, tumbling
from squall.windowing.manager import WindowManager

T0 = 1_767_225_600_000


def traced(build: Callable[[], Any]) -> int:
    tracemalloc.start()
    try:
        kept = build()
        size = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    del kept
    return size


def engine(retain_s: float = 180.0) -> WindowManager:
    limits = WindowSettings(
        (tumbling(10), tumbling(60)), 5_000, 5.0, 0.01, max_keys=10**9, max_closed_windows=10**9
    )
    return WindowManager(limits, ManualClock(), retain_closed_s=retain_s)


def live_keys(n: int, events: int) -> WindowManager:
    wm = engine()
    for i in range(n):
        for j in range(events):
            metrics = {"temperature": 20.5} if events == 1 else {"temperature": 20.5, "humidity": 40.0}
            wm.add(
                (f"tenant-{i % 4}", f"device-{i:08d}"), f"evt-{i:08d}-{j:03d}", T0 + 100 * j, metrics, (i, j)
            )
    return wm


def closed_windows(n: int) -> WindowManager:
    wm = engine(retain_s=1e9)
    for w in range(n):
        for j in range(10):
            ts = T0 + w * 10_000 + j * 1_000
            wm.add(("acme", "d"), f"evt-{w:08d}-{j:03d}", ts, {"temperature": 20.5, "humidity": 40.0}, (w, j))
    return wm


def dedup_ids(n: int) -> Deduplicator:
    d = Deduplicator(n)
    for i in range(n):
        d.check(f"tenant-{i % 4}", f"evt-{i:012d}", ("iot.events", i % 8, 10**6 + i))
    return d


def alert_devices(n: int) -> AlertEngine:
    engine = AlertEngine(parse_alert_rules({"anomaly": {"metrics": ["temperature", "humidity"]}}), max_keys=n)
    for i in range(n):
        engine.evaluate_dict(
            {
                "tenant": "acme",
                "device_id": f"device-{i:08d}",
                "event_id": f"evt-{i:012d}",
                "ts": T0,
                "type": "telemetry",
                "metrics": {"temperature": 20.0, "humidity": 40.0},
                "attrs": {},
            }
        )
    return engine


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.memory")
    parser.add_argument("--n", type=int, default=20_000, help="entries of each kind measured")
    n = parser.parse_args(argv).n
    closed = closed_windows(n)  # the windows close as the watermark passes: n - 1 retained (the last is open)
    per_closed = (traced(lambda: closed_windows(n)) - traced(lambda: live_keys(1, 10))) / closed.stats()[
        "closed_windows"
    ]
    result = {
        "window_live_key": traced(lambda: live_keys(n, 1)) / n,
        "window_live_key_10_events": traced(lambda: live_keys(n // 10, 10)) / (n // 10),
        "window_closed": per_closed,
        "dedup_id": traced(lambda: dedup_ids(n)) / n,
        "alert_device": traced(lambda: alert_devices(n)) / n,
    }
    result = {k: round(v) for k, v in result.items()}
    print(f"bytes per entry ({n:,} entries each): {result}")
    print(f"written: {write_result('memory', {'bytes_per_entry': result, 'entries': n})}")


if __name__ == "__main__":
    main()
