"""µs per event of the window engine and the alert engine alone, on this machine (`python -m bench.engines`).

Events come from the seeded simulator, parsed once up front (parse is not measured). Each figure is the best of
`--repeat` runs over all events (the machine is shared: the minimum is the least disturbed run), with the cyclic
garbage collector off while timing (as timeit does):
- window_add: `WindowManager.add` for every telemetry event plus the final `flush`, i.e. per-key watermarks,
  window bookkeeping and every close (sorting, fsum, the DDSketch quantiles) -- tumbling 10 s + 60 s (config.json);
- window_add_sliding: the same with a sliding 60 s / 10 s definition added (6 windows more per event);
- window_add_recovering: the config.json definitions inside a `recover_from` horizon (an oracle that holds
  nothing: every new (window, metric) is asked once);
- emit_windows: AggregateBolt.emit_windows turning the closed windows of window_add into `records` tuples
  (per event, the windows' rows spread over the events that fed them);
- alerts: what AlertsBolt does per event of a batch: `AlertEngine.evaluate_fields(fields)` (positional entries),
  `evaluate_dict(data)` on trees whose entries carry dicts, else `evaluate(event_from_dict(data))`, with
  config.json's rules;
- alerts_event: `AlertEngine.evaluate(Event)` on already decoded events;
- dedup: parse's `Deduplicator.check` for every valid event (a fresh one per run, the default horizon);
- dedup_tenants: the same with every event given one of 50,000 tenants (the memory was per tenant before).
Run it on two trees (e.g. main's and a branch's, `PYTHONPATH=<tree>`) to compare; `code` in the result says
which tree's squall package ran. Results go through bench.machine.write_result.
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import time
from collections.abc import Callable, Hashable
from functools import partial
from pathlib import Path
from typing import Any

import squall
from bench.machine import write_result
from bench.pipeline import SIM  # the same simulated stream as the pipeline bench
from squall.clock import SystemClock
from squall.pipeline.alerting import AlertEngine, parse_alert_rules
from squall.pipeline.dedup import Deduplicator
from squall.pipeline.events import event_from_dict
from squall.pipeline.model import Event
from squall.pipeline.parse import Parser
from squall.pipeline.routing import parse_rules, route
from squall.pipeline.simulator import SimulatorSettings, generate
from squall.pipeline.tuples import event_entry
from squall.windowing.definitions import parse_window_settings
from squall.windowing.manager import ClosedWindow, WindowManager

CONFIG = Path(__file__).resolve().parent.parent / "config.json"


def pipeline_section() -> dict[str, Any]:
    doc = json.loads(CONFIG.read_text())
    return dict(doc.get("pipeline", doc))


def events(duration_s: float, windows: dict[str, Any]) -> list[Event]:
    s = {"source": "simulator", "simulator": {**SIM, "duration_s": duration_s}, "windows": windows}
    parser = Parser(s)
    out = []
    for m in generate(SimulatorSettings.from_settings(s)):
        parsed = parser.parse(m.value, (m.topic, m.partition, m.offset))
        if parsed.event is not None:
            out.append(parsed.event)
    return out


def best_of(repeat: int, run: Callable[[], float]) -> float:
    times = []
    for _ in range(repeat):
        gc.collect()
        gc.disable()  # as timeit does: the collector's passes over the whole heap are not the engine's cost
        try:
            times.append(run())
        finally:
            gc.enable()
    return min(times)


def window_run(
    window_section: dict[str, Any], telemetry: list[Event], recovering: bool, closed: list[ClosedWindow]
) -> float:
    manager = WindowManager(parse_window_settings(window_section), SystemClock())
    if recovering:
        manager.recover_from(lambda key, definition, start, metric: False, 3600.0)
    add = manager.add
    closed.clear()
    t0 = time.perf_counter()
    for i, e in enumerate(telemetry):
        closed.extend(add((e.tenant, e.device_id), e.event_id, e.ts, e.metrics, i).closed)
    closed.extend(manager.flush().closed)
    return time.perf_counter() - t0


def emit_run(windows: list[ClosedWindow]) -> float:
    from bolts.aggregate import AggregateBolt

    bolt = AggregateBolt.__new__(AggregateBolt)  # no Storm: only what emit_windows reads
    bolt.shards = 4
    emitted: list[Any] = []

    def emit(values: list[Any], anchors: list[Hashable] | None = None, stream: str = "default") -> None:
        emitted.append(values)

    bolt.emit = emit
    anchors: list[Hashable] = [1, 2, 3]
    t0 = time.perf_counter()
    for i in range(0, len(windows), 64):  # a tuple closes a few windows at a time
        bolt.emit_windows(windows[i : i + 64], anchors)
    return time.perf_counter() - t0


def alerts_run(rules: Any, entries: list[Any]) -> float:
    """The batch entries' events (positional fields, or dicts on trees that carry dicts) through the engine as
    AlertsBolt hands them over."""
    engine = AlertEngine(rules)
    positional = bool(entries) and not isinstance(entries[0], dict)
    fast = getattr(engine, "evaluate_fields" if positional else "evaluate_dict", None)
    t0 = time.perf_counter()
    if fast is not None:
        for data in entries:
            fast(data)
    else:
        evaluate = engine.evaluate
        for data in entries:
            evaluate(event_from_dict(data))
    return time.perf_counter() - t0


def alerts_event_run(rules: Any, decoded: list[Event]) -> float:
    evaluate = AlertEngine(rules).evaluate
    t0 = time.perf_counter()
    for event in decoded:
        evaluate(event)
    return time.perf_counter() - t0


def dedup_run(keys: list[tuple[str, str, tuple[str, int, int]]]) -> float:
    check = Deduplicator().check
    t0 = time.perf_counter()
    for tenant, event_id, source in keys:
        check(tenant, event_id, source)
    return time.perf_counter() - t0


def code_description() -> dict[str, Any]:
    tree = Path(squall.__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(tree), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return {"tree": str(tree), "commit": commit or None}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.engines")
    parser.add_argument("--events-seconds", type=float, default=60, help="event time simulated")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement (best kept)")
    parser.add_argument("--label", default="", help="what this run measures (e.g. main, branch)")
    args = parser.parse_args(argv)
    section = pipeline_section()
    windows = dict(section["windows"])
    sliding = {
        **windows,
        "definitions": [*windows["definitions"], {"type": "sliding", "length_s": 60, "slide_s": 10}],
    }
    decoded = events(args.events_seconds, windows)
    rules = parse_rules(None)
    telemetry = [e for e in decoded if "telemetry" in route(e, rules)]
    entries = [event_entry(e, ("t", 0, i))[0] for i, e in enumerate(decoded)]
    alert_rules = parse_alert_rules(section.get("alerts"))
    n = len(telemetry)
    us: dict[str, float] = {}
    closed: list[ClosedWindow] = []
    for name, definitions, recovering in (
        ("window_add_sliding", sliding, False),
        ("window_add_recovering", windows, True),
        ("window_add", windows, False),  # last: `closed` feeds emit_windows
    ):
        run = partial(window_run, definitions, telemetry, recovering, closed)
        us[name] = best_of(args.repeat, run) / n * 1e6
    us["emit_windows"] = best_of(args.repeat, lambda: emit_run(closed)) / n * 1e6
    us["alerts"] = best_of(args.repeat, lambda: alerts_run(alert_rules, entries)) / len(entries) * 1e6
    us["alerts_event"] = (
        best_of(args.repeat, lambda: alerts_event_run(alert_rules, decoded)) / len(decoded) * 1e6
    )
    keys = [(e.tenant, e.event_id, ("t", 0, i)) for i, e in enumerate(decoded)]
    us["dedup"] = best_of(args.repeat, lambda: dedup_run(keys)) / len(keys) * 1e6
    spread = [(f"tenant-{i % 50_000}", event_id, source) for i, (_, event_id, source) in enumerate(keys)]
    us["dedup_tenants"] = best_of(args.repeat, lambda: dedup_run(spread)) / len(spread) * 1e6
    us = {k: round(v, 3) for k, v in us.items()}
    print(f"µs per event ({n:,} telemetry events, {len(decoded):,} events, {len(closed):,} windows): {us}")
    path = write_result(
        "engines",
        {
            "label": args.label,
            "code": code_description(),
            "us_per_event": us,
            "events": len(decoded),
            "telemetry_events": n,
            "windows_closed": len(closed),
            "repeat": args.repeat,
            "simulator": {**SIM, "duration_s": args.events_seconds},
        },
    )
    print(f"written: {path}")


if __name__ == "__main__":
    main()
