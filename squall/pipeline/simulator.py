"""Simulated IoT devices: a seeded, deterministic stream of device messages with known defects.

`generate(settings)` yields `Produced` messages in production order: key (tenant/device_id), value (the
message bytes, JSON or msgpack), partition and offset (as a keyed Kafka producer would assign them), and a
`label` saying what the message is meant to be:

- "ok": a valid, in-time event.
- "dup": the producer re-sends one of the device's last few events (same bytes, another offset).
- "late": a valid event whose time is `allowed_lateness + late_margin_s` (and more) older than the newest time
  the same device has produced so far. The device's own events stay in order (one key, one partition), so on
  arrival its watermark is at least `newest - allowed_lateness` whatever the interleaving of other devices;
  the margin makes the fate robust to bounded reordering inside the topology (parallel parse/route tasks).
- "bad": malformed (truncated JSON, garbage msgpack, missing/invalid fields, non-finite numbers, ...);
  `expected_reason` is the reason parse must dead-letter it with.

In-time events of a device lag its newest time by at most `jitter_ms` (< allowed lateness), so they are
never late. squall.pipeline.truth computes the expected outcome from these messages independently.
"""

from __future__ import annotations

import json
import math
import random
import zlib
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field, fields, replace
from typing import Any, cast

import msgpack

from squall import checks
from squall.errors import ConfigError
from squall.windowing.definitions import MAX_SECONDS

FORMATS = ("json", "msgpack", "mixed")
SECTION = "pipeline.simulator"


@dataclass(frozen=True)
class SimulatorSettings:
    seed: int = 7
    tenants: int = 2
    devices: int = 20
    rate: float = 200.0  # events per second of event time, all devices together
    duration_s: float = 60.0  # event time covered
    partitions: int = 4
    bad_ratio: float = 0.01
    dup_ratio: float = 0.02
    late_ratio: float = 0.01
    alarm_ratio: float = 0.01
    format: str = "json"
    start_ms: int = 1_767_225_600_000  # 2026-01-01T00:00:00Z
    jitter_ms: int = 200
    late_margin_s: float = 30.0
    allowed_lateness_s: float = 5.0
    topic: str = "iot.events"

    @classmethod
    def from_settings(cls, pipeline: Any, **overrides: Any) -> SimulatorSettings:
        """From the `pipeline` settings (a dict, or a typed PipelineSettings): its `simulator` section, and the
        allowed lateness of its windows; `overrides` (None values ignored) replace keys of the section."""
        extra = {k: v for k, v in overrides.items() if v is not None}
        typed = getattr(pipeline, "simulator", None)
        if isinstance(typed, SimulatorSettings):
            made = replace(typed, **extra)
            made.validate()
            return made
        section = dict(checks.obj(pipeline.get("simulator"), SECTION))
        checks.check_keys(section, [f.name for f in fields(cls)], SECTION)
        windows = checks.obj(pipeline.get("windows"), "pipeline.windows")
        section.setdefault("allowed_lateness_s", windows.get("allowed_lateness_s", 5))
        section.update(extra)
        made = cls(**section)
        made.validate()
        return made

    def validate(self) -> None:
        """Types and ranges of every field; ConfigError naming `pipeline.simulator.<field>`."""
        for name in ("seed", "start_ms"):
            checks.integer(getattr(self, name), f"{SECTION}.{name}")
        for name in ("tenants", "devices", "partitions"):
            checks.integer(getattr(self, name), f"{SECTION}.{name}", 1, 1_000_000)
        checks.number(self.rate, f"{SECTION}.rate", 0, 10_000_000, lo_open=True, unit="events/s")
        checks.number(self.duration_s, f"{SECTION}.duration_s", 0, 10**8, lo_open=True, unit="seconds")
        for name in ("bad_ratio", "dup_ratio", "late_ratio", "alarm_ratio"):
            checks.number(getattr(self, name), f"{SECTION}.{name}", 0, 0.5, hi_open=True, unit="a ratio")
        checks.choice(self.format, f"{SECTION}.format", FORMATS)
        checks.integer(self.jitter_ms, f"{SECTION}.jitter_ms", 0, 86_400_000)
        checks.number(self.late_margin_s, f"{SECTION}.late_margin_s", 0, 86_400, unit="seconds")
        checks.number(
            self.allowed_lateness_s, f"{SECTION}.allowed_lateness_s", 0, MAX_SECONDS, unit="seconds"
        )
        checks.text(self.topic, f"{SECTION}.topic")
        if self.jitter_ms >= self.allowed_lateness_s * 1000 and self.jitter_ms > 0:
            raise ConfigError(
                f"{SECTION}.jitter_ms",
                f"{self.jitter_ms} ms >= the allowed lateness {self.allowed_lateness_s:g} s "
                f"({SECTION}.allowed_lateness_s, by default pipeline.windows.allowed_lateness_s), "
                "so in-time events would be late",
                "keep jitter_ms below the allowed lateness x 1000",
            )

    @property
    def total_events(self) -> int:
        return max(1, round(self.rate * self.duration_s))


@dataclass(frozen=True)
class Produced:
    key: bytes
    value: bytes
    partition: int
    offset: int
    label: str  # "ok" | "dup" | "late" | "bad"
    expected_reason: str = ""  # for "bad": the dead-letter reason parse must give
    topic: str = "iot.events"


@dataclass
class _Device:
    tenant: str
    device_id: str
    phase: float
    seq: int = 0
    newest_ts: int = -1
    recent: deque[bytes] = field(default_factory=lambda: deque(maxlen=5))
    above: int = 0


def partition_for(key: bytes, partitions: int) -> int:
    """Stable key -> partition (crc32); a keyed Kafka producer keeps each key in one partition likewise."""
    return zlib.crc32(key) % partitions


def generate(settings: SimulatorSettings) -> Iterator[Produced]:
    """The whole simulated stream, lazily, in production order (deterministic for a seed)."""
    rng = random.Random(settings.seed)
    devices = [
        _Device(
            tenant=f"tenant-{d % settings.tenants}",
            device_id=f"dev-{d:04d}",
            phase=rng.uniform(0, 2 * math.pi),
        )
        for d in range(settings.devices)
    ]
    offsets = [0] * settings.partitions
    lateness_ms = int(settings.allowed_lateness_s * 1000)
    step_ms = 1000.0 / settings.rate

    def emit(dev: _Device, value: bytes, label: str, reason: str = "") -> Produced:
        key = f"{dev.tenant}/{dev.device_id}".encode()
        p = partition_for(key, settings.partitions)
        offsets[p] += 1
        return Produced(key, value, p, offsets[p] - 1, label, reason, settings.topic)

    for i in range(settings.total_events):
        dev = devices[i % len(devices)]
        now = settings.start_ms + int(i * step_ms)
        roll = rng.random()
        if roll < settings.bad_ratio:
            value, reason = _malformed(rng, dev, now)
            yield emit(dev, value, "bad", reason)
            continue
        if roll < settings.bad_ratio + settings.dup_ratio and dev.recent:
            yield emit(dev, rng.choice(list(dev.recent)), "dup")
            continue
        if roll < settings.bad_ratio + settings.dup_ratio + settings.late_ratio and dev.newest_ts >= 0:
            late_ts = dev.newest_ts - lateness_ms - int(settings.late_margin_s * 1000) - rng.randrange(10_000)
            yield emit(dev, _encode(settings, rng, _event(rng, dev, late_ts, settings)), "late")
            continue
        ts = now - rng.randrange(settings.jitter_ms + 1) if settings.jitter_ms else now
        ts = max(ts, dev.newest_ts - settings.jitter_ms) if dev.newest_ts >= 0 else ts
        value = _encode(settings, rng, _event(rng, dev, ts, settings))
        dev.newest_ts = max(dev.newest_ts, ts)
        dev.recent.append(value)
        yield emit(dev, value, "ok")


def _event(rng: random.Random, dev: _Device, ts: int, settings: SimulatorSettings) -> dict[str, Any]:
    dev.seq += 1
    t = (ts - settings.start_ms) / 1000.0
    temperature = 21.0 + 4.0 * math.sin(dev.phase + t / 30.0) + rng.gauss(0, 0.3)
    if rng.random() < 0.005:
        temperature += rng.choice((-1, 1)) * rng.uniform(15, 40)  # a spike for the anomaly detector
    metrics: dict[str, float | int] = {
        "temperature": round(temperature, 3),
        "humidity": round(
            min(100.0, max(0.0, 45 + 10 * math.cos(dev.phase + t / 50.0) + rng.gauss(0, 1))), 2
        ),
        "battery": max(0, 100 - dev.seq // 50),
    }
    etype = "telemetry"
    roll = rng.random()
    if roll < settings.alarm_ratio:
        etype = "alarm"
        metrics = {"code": rng.choice((1, 2, 7, 13))}
    elif roll < settings.alarm_ratio + 0.02:
        etype = "status"
        metrics = {"rssi": rng.randint(-95, -40)}
    event: dict[str, Any] = {
        "tenant": dev.tenant,
        "device_id": dev.device_id,
        "event_id": f"{dev.device_id}-{dev.seq:08d}",
        "ts": ts,
        "type": etype,
        "metrics": metrics,
    }
    if rng.random() < 0.3:
        event["attrs"] = {"fw": f"1.{dev.phase:.0f}", "site": f"s{zlib.crc32(dev.device_id.encode()) % 3}"}
    return event


def _encode(settings: SimulatorSettings, rng: random.Random, event: dict[str, Any]) -> bytes:
    fmt = settings.format
    if fmt == "mixed":
        fmt = rng.choice(("json", "msgpack"))
    if fmt == "json":
        return json.dumps(event, separators=(",", ":")).encode()
    return cast(bytes, msgpack.packb(event, use_bin_type=True))


# Poison: payloads that once got past validation (or broke the decoder) and stopped a pipeline. Each is ~2 KB
# at most, except the oversized one, and must be dead-lettered with its reason while the stream goes on.
POISON_REASONS = frozenset({"too_deep", "duplicate_key", "future_ts", "too_large", "invalid_field:attrs"})
# 2096: ahead of any wall clock this runs on by far more than the allowed skew
FUTURE_TS_MS = 4_000_000_000_000
OVERSIZED_BYTES = 70_000  # > the default max_payload_bytes (65,536)


def _malformed(rng: random.Random, dev: _Device, now: int) -> tuple[bytes, str]:
    base: dict[str, Any] = {
        "tenant": dev.tenant,
        "device_id": dev.device_id,
        "event_id": f"{dev.device_id}-bad-{now}",
        "ts": now,
        "type": "telemetry",
        "metrics": {"temperature": 20.5},
    }
    kind = rng.randrange(17)
    if kind == 0:
        return json.dumps(base).encode()[:-7], "invalid_json"
    if kind == 1:
        return b"\xc1\xff\x00garbage", "invalid_msgpack"
    if kind == 2:
        del base["tenant"]
        return json.dumps(base).encode(), "missing_field:tenant"
    if kind == 3:
        base["tenant"] = "Tenant With Spaces"
        return json.dumps(base).encode(), "invalid_field:tenant"
    if kind == 4:
        base["ts"] = str(now)
        return msgpack.packb(base), "invalid_field:ts"
    if kind == 5:
        return json.dumps(base).replace("20.5", "NaN").encode(), "invalid_json"
    if kind == 6:
        base["metrics"] = {"temperature": "hot"}
        return json.dumps(base).encode(), "invalid_metric:temperature"
    if kind == 7:
        return msgpack.packb([base]), "not_an_object"
    # poison
    if kind == 8:  # ~1,000 levels of nesting inside an object
        text = json.dumps(base)[:-1] + ',"attrs":' + '{"a":' * 1000 + "1" + "}" * 1000 + "}"
        return text.encode(), "too_deep"
    if kind == 9:
        return msgpack.packb({**base, "attrs": {"deep": _nest(100)}}), "too_deep"
    if kind == 10:  # a lone surrogate, written as JSON escapes
        return json.dumps(base).replace(
            base["event_id"], base["event_id"] + "\\ud800"
        ).encode(), "invalid_field:event_id"
    if kind == 11:
        base["attrs"] = {"fw": "\ud800"}
        return json.dumps(base).encode(), "invalid_field:attrs"
    if kind == 12:
        base["attrs"] = {"counter": 2**70}
        return json.dumps(base).encode(), "invalid_field:attrs"
    if kind == 13:  # two tenants in one object: never let two parsers see two different tenants
        text = json.dumps(base).replace('{"tenant"', '{"tenant":"evil","tenant"', 1)
        return text.encode(), "duplicate_key"
    if kind == 14:
        base["event_id"] += "\x1b[2J"
        return json.dumps(base).encode(), "invalid_field:event_id"
    if kind == 15:
        base["ts"] = FUTURE_TS_MS + now % 1000
        return json.dumps(base).encode(), "future_ts"
    base["attrs"] = {"pad": "x" * OVERSIZED_BYTES}
    return json.dumps(base).encode(), "too_large"


def _nest(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value
