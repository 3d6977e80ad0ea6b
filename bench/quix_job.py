"""The job a Python team would write with Quix Streams instead of the squall pipeline, for bench.end_to_end.

    .venv-bench/bin/python -m bench.quix_job --broker 127.0.0.1:9092 --input TOPIC --output TOPIC \
        --group GROUP --state-dir DIR

Consumes the pipeline's JSON device events (the same messages squall reads, with a consumer group of its own),
drops what is not a JSON telemetry event, takes event time from the event's `ts`, and keeps tumbling 10 s
windows per message key (tenant/device) with count/sum/min/max of temperature, humidity and battery; each
window is produced to `--output` once, when it closes (`final()`, 5 s grace like the pipeline's allowed
lateness). Duplicates are counted twice (the job does not de-duplicate); malformed messages are dropped, not
dead-lettered. It runs until stopped (SIGINT/SIGTERM); the caller watches its group's committed offsets.

Runs in the benchmark's own virtualenv (`make bench-deps`, bench/requirements-quix.lock): it imports nothing
from squall, and Quix Streams is no dependency of the project.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

METRICS = ("temperature", "humidity", "battery")
WINDOW_MS = 10_000
GRACE_MS = 5_000


def telemetry(raw: bytes) -> dict[str, Any] | None:
    """The event's time and its three metrics, or None for anything else (malformed, alarm, status)."""
    try:
        event = json.loads(raw)
    except (ValueError, RecursionError):  # malformed, or nested past the decoder's depth
        return None
    if not isinstance(event, dict) or event.get("type") != "telemetry":
        return None
    ts, metrics = event.get("ts"), event.get("metrics")
    if not isinstance(ts, int) or not isinstance(metrics, dict):
        return None
    values = {m: metrics.get(m) for m in METRICS}
    if not all(isinstance(v, int | float) for v in values.values()):
        return None
    return {"ts": ts, **values}


def build(app: Any, input_topic: str, output_topic: str) -> None:
    """The job on a quixstreams `Application` (imported here: bench.end_to_end reads `telemetry` without it)."""
    from quixstreams.dataframe.windows import Count, Max, Min, Sum

    source = app.topic(input_topic, value_deserializer="bytes", key_deserializer="str")
    sink = app.topic(output_topic, value_serializer="json", key_serializer="str")
    sdf = app.dataframe(source)
    sdf = sdf.apply(telemetry).filter(lambda v: v is not None)
    sdf = sdf.set_timestamp(lambda value, key, timestamp, headers: value["ts"])
    aggregations: dict[str, Any] = {}
    for m in METRICS:
        aggregations |= {
            f"{m}_count": Count(m),
            f"{m}_sum": Sum(m),
            f"{m}_min": Min(m),
            f"{m}_max": Max(m),
        }
    sdf = sdf.tumbling_window(duration_ms=WINDOW_MS, grace_ms=GRACE_MS).agg(**aggregations).final()
    sdf.to_topic(sink)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.quix_job", description=__doc__.splitlines()[0])
    parser.add_argument("--broker", required=True)
    parser.add_argument("--input", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--state-dir", required=True)
    ns = parser.parse_args()
    from quixstreams import Application

    app = Application(
        broker_address=ns.broker,
        consumer_group=ns.group,
        auto_offset_reset="earliest",
        commit_interval=1.0,
        state_dir=ns.state_dir,
        loglevel="WARNING",
    )
    build(app, ns.input, ns.output)
    app.run()


if __name__ == "__main__":
    main()
