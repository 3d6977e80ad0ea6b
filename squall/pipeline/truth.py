"""Ground truth: the window rows the pipeline must produce, computed in one batch from the produced messages.

Deliberately independent of the window engine (squall.windowing): a plain group-by that applies the
documented rules (docs/pipeline.md) to the messages in production order:

1. Malformed messages (simulator label "bad") are dead-lettered, not aggregated.
2. A message whose (tenant, event_id) was produced before is a duplicate and counts once.
3. Only events routed to the `telemetry` stream are windowed (see `truth_for_settings`); others (e.g. alarms)
   count as `elsewhere`.
4. Per device (tenant, device_id), in production order: an event is late when its time is below
   `newest time of that device so far - allowed lateness`; late events are in no window.
5. Every other event adds each metric to every window containing its time: for a window of length L
   sliding by S (tumbling: S = L), the windows [k*S, k*S + L) with k*S <= ts < k*S + L.
6. Per window and metric: count, sum (math.fsum, correctly rounded), min, max, mean = sum / count; p50/p95
   are the exact lower quantiles `sorted(values)[floor(q * (count - 1))]` — the pipeline's DDSketch values
   must be within its relative accuracy of these (compare with `compare_rows`).
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgpack

from squall.pipeline.simulator import Produced

if TYPE_CHECKING:
    from squall.pipeline.routing import Rule
    from squall.pipeline.settings import PipelineSettings

RowKey = tuple[str, str, str, int, int]  # tenant, device_id, metric, window_s, window_start
EXACT_COLUMNS = ("count", "sum", "min", "max", "mean", "window_end")
SKETCH_COLUMNS = ("p50", "p95")


@dataclass
class Truth:
    rows: dict[RowKey, dict[str, Any]]
    produced: int = 0
    duplicates: int = 0
    late: int = 0
    dead_lettered: int = 0
    aggregated: int = 0  # unique, valid, in-time events
    late_ids: set[tuple[str, str]] = field(default_factory=set)
    bad_reasons: dict[tuple[str, int, int], str] = field(
        default_factory=dict
    )  # (topic, partition, offset) -> reason
    unique_events: int = 0  # valid events after dedup (aggregated + late + elsewhere)
    elsewhere: int = 0  # valid, unique events not routed to the windows (e.g. alarms)

    def reconciles(self) -> bool:
        return (
            self.produced
            == self.aggregated + self.duplicates + self.late + self.dead_lettered + self.elsewhere
        )


def _decode(value: bytes) -> dict[str, Any]:
    if value[:1] in (b"{", b" ", b"\t", b"\r", b"\n"):
        return json.loads(value)  # type: ignore[no-any-return]
    return msgpack.unpackb(value, raw=False)  # type: ignore[no-any-return]


def compute_truth(
    messages: Iterable[Produced],
    windows: Sequence[tuple[int, int]],
    allowed_lateness_ms: int,
    windowed: Callable[[dict[str, Any]], bool] | None = None,
) -> Truth:
    """`windows` is a list of (length_s, slide_s); `messages` in production order; `windowed(event)` says
    whether a decoded event reaches the windows (default: the default routing rules, i.e. types telemetry and
    status; prefer `truth_for_settings`, which reads the configured rules)."""
    if windowed is None:
        windowed = telemetry_filter(None)
    values: dict[RowKey, list[float]] = defaultdict(list)
    seen: set[tuple[str, str]] = set()
    newest: dict[tuple[str, str], int] = {}
    truth = Truth(rows={})
    for msg in messages:
        truth.produced += 1
        if msg.label == "bad":
            truth.dead_lettered += 1
            truth.bad_reasons[(msg.topic, msg.partition, msg.offset)] = msg.expected_reason
            continue
        event = _decode(msg.value)
        ident = (event["tenant"], event["event_id"])
        if ident in seen:
            truth.duplicates += 1
            continue
        seen.add(ident)
        truth.unique_events += 1
        if not windowed(event):
            truth.elsewhere += 1
            continue
        device = (event["tenant"], event["device_id"])
        ts = int(event["ts"])
        top = newest.get(device)
        if top is not None and ts < top - allowed_lateness_ms:
            truth.late += 1
            truth.late_ids.add(ident)
            continue
        newest[device] = ts if top is None else max(top, ts)
        truth.aggregated += 1
        for length_s, slide_s in windows:
            length, slide = length_s * 1000, slide_s * 1000
            for k in range((ts - length) // slide + 1, ts // slide + 1):
                for metric, reading in event["metrics"].items():
                    values[(device[0], device[1], metric, length_s, k * slide)].append(float(reading))
    for key, vals in values.items():
        ordered = sorted(vals)
        n = len(ordered)
        total = math.fsum(ordered)
        truth.rows[key] = {
            "tenant": key[0],
            "device_id": key[1],
            "metric": key[2],
            "window_s": key[3],
            "window_start": key[4],
            "window_end": key[4] + key[3] * 1000,
            "count": n,
            "sum": total,
            "min": ordered[0],
            "max": ordered[-1],
            "mean": total / n,
            "p50": ordered[math.floor(0.5 * (n - 1))],
            "p95": ordered[math.floor(0.95 * (n - 1))],
        }
    return truth


def _differing_columns(
    got: Mapping[str, Any], want: Mapping[str, Any], relative_accuracy: float
) -> dict[str, tuple[Any, Any]]:
    diff = {col: (got[col], want[col]) for col in EXACT_COLUMNS if got[col] != want[col]}
    for col in SKETCH_COLUMNS:
        if abs(got[col] - want[col]) > relative_accuracy * abs(want[col]) + 1e-12:
            diff[col] = (got[col], want[col])
    return diff


def compare_rows(
    actual: Mapping[RowKey, Mapping[str, Any]],
    expected: Mapping[RowKey, Mapping[str, Any]],
    relative_accuracy: float = 0.01,
    limit: int = 20,
) -> list[str]:
    """Differences between stored rows and truth: exact columns must be equal, p50/p95 within the sketch's
    relative accuracy. An empty list means they agree."""
    problems: list[str] = []
    for key in sorted(set(expected) - set(actual))[:limit]:
        problems.append(f"missing window {key}")
    for key in sorted(set(actual) - set(expected))[:limit]:
        problems.append(f"unexpected window {key}")
    for key in sorted(set(actual) & set(expected)):
        for col, (got, want) in _differing_columns(actual[key], expected[key], relative_accuracy).items():
            within = f" ±{relative_accuracy:.0%}" if col in SKETCH_COLUMNS else ""
            problems.append(f"{key} {col}: got {got!r}, expected {want!r}{within}")
        if len(problems) >= limit:
            break
    return problems[:limit]


def explain_rows(
    actual: Mapping[RowKey, Mapping[str, Any]],
    expected: Mapping[RowKey, Mapping[str, Any]],
    relative_accuracy: float = 0.01,
    limit: int = 10,
) -> str:
    """A report of how stored rows differ from the truth, for a test's failure message: how many rows are
    missing, extra and differing, then the first `limit` of each (differing rows with only their differing
    columns, as `col: got -> expected`). Empty when they agree."""
    missing = sorted(set(expected) - set(actual))
    extra = sorted(set(actual) - set(expected))
    differing = {
        key: cols
        for key in sorted(set(actual) & set(expected))
        if (cols := _differing_columns(actual[key], expected[key], relative_accuracy))
    }
    if not (missing or extra or differing):
        return ""
    lines = [
        f"rows: {len(actual)} stored, {len(expected)} expected; {len(missing)} missing, {len(extra)} extra, "
        f"{len(differing)} differing"
    ]
    if missing:
        lines.append(f"missing (first {min(limit, len(missing))}):")
        lines += [f"  {key} count={expected[key]['count']}" for key in missing[:limit]]
    if extra:
        lines.append(f"extra (first {min(limit, len(extra))}):")
        lines += [f"  {key} count={actual[key]['count']}" for key in extra[:limit]]
    if differing:
        lines.append(f"differing (first {min(limit, len(differing))}):")
        for key, cols in list(differing.items())[:limit]:
            shown = ", ".join(f"{col}: {got!r} -> {want!r}" for col, (got, want) in cols.items())
            lines.append(f"  {key} {shown}")
    return "\n".join(lines)


def truth_for_settings(messages: Iterable[Produced], settings: PipelineSettings | Mapping[str, Any]) -> Truth:
    """Truth for a pipeline configured by `settings` (config.json `pipeline`, or its typed form): its window
    definitions, allowed lateness, and its routing rules deciding which events reach the `telemetry` stream."""
    from squall.pipeline.settings import PipelineSettings

    typed = PipelineSettings.of(settings)
    win = typed.windows
    return compute_truth(
        messages,
        [(d.length_s, d.slide_s) for d in win.definitions],
        win.allowed_lateness_ms,
        telemetry_filter(typed.routing.rules),
    )


def telemetry_filter(
    routing: Mapping[str, Any] | Sequence[Rule] | None,
) -> Callable[[dict[str, Any]], bool]:
    """Whether routing (config.json `pipeline.routing`, None = defaults, or parsed rules) sends a decoded event
    to `telemetry`."""
    from squall.pipeline.events import validate
    from squall.pipeline.routing import parse_rules, route

    rules = parse_rules(routing) if routing is None or isinstance(routing, Mapping) else routing

    def windowed(event: dict[str, Any]) -> bool:
        return "telemetry" in route(validate(event), rules)

    return windowed
