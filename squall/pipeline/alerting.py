"""Alert rules per device: thresholds, "N consecutive readings", an EWMA z-score anomaly detector, and alarms.

config.json `pipeline.alerts`:

    "alerts": {
      "thresholds": [{"metric": "temperature", "op": ">", "value": 45}],
      "consecutive": [{"metric": "battery", "op": "<", "value": 15, "count": 3}],
      "anomaly": {"enabled": true, "alpha": 0.05, "z": 5.0, "min_samples": 30, "metrics": ["temperature"]},
      "alarm_events": true
    }

- threshold: one alert per reading that satisfies `op value`.
- consecutive: one alert when the `count`-th consecutive reading of the device satisfies the predicate; the run
  must be broken (a reading that does not satisfy it) before it can fire again.
- anomaly: per (device, metric) exponentially weighted mean m and variance v (weight `alpha`); after
  `min_samples` readings, a reading x with |x - m| / sqrt(v) >= z raises an alert; then x updates m and v:
  d = x - m; m += alpha d; v = (1 - alpha)(v + alpha d^2).
- alarm events (type "alarm") raise one alert per metric.
Alert ids are deterministic from the cause (kind, rule, event id, metric), so a replay upserts the same rows.
Detector state is order-dependent by nature; a re-delivered event (same event id, remembered per device in a
bounded LRU) gets the alerts it produced the first time instead of updating the state twice.

Memory is bounded whatever the number of devices: at most `max_keys` devices have state
(`pipeline.windows.max_keys`, shared with the window engine); past it the least recently active device's state is
evicted: its EWMA restarts (no anomaly alert until `min_samples` new readings), its consecutive runs restart from
zero, and a re-delivery of one of its earlier events is evaluated as new. At most `max_replays` event ids are
remembered over all devices: past it, the least recently active devices' oldest ids are forgotten first.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from squall import checks
from squall.errors import ConfigError
from squall.pipeline.model import Alert, Event, event_fields
from squall.pipeline.routing import OPS
from squall.windowing.definitions import DEFAULT_MAX_KEYS

_NOTHING: tuple[Alert, ...] = ()  # the remembered outcome of an event that raised no alert


@dataclass(frozen=True)
class Predicate:
    metric: str
    op_name: str
    op: Callable[[float, float], bool]
    value: float
    count: int = 1
    tenants: frozenset[str] | None = None

    def reading(self, tenant: str, metrics: Mapping[str, float]) -> float | None:
        """The event's value of this rule's metric, or None when the rule does not apply to it (another tenant,
        or the metric is absent)."""
        if self.tenants is not None and tenant not in self.tenants:
            return None
        return metrics.get(self.metric)


@dataclass(frozen=True)
class AnomalySettings:
    enabled: bool = True
    alpha: float = 0.05
    z: float = 5.0
    min_samples: int = 30
    metrics: frozenset[str] | None = None


@dataclass(frozen=True)
class AlertRules:
    thresholds: tuple[Predicate, ...] = ()
    consecutive: tuple[Predicate, ...] = ()
    anomaly: AnomalySettings = AnomalySettings()
    alarm_events: bool = True


_PREDICATE_KEYS = ("metric", "op", "value", "tenant")
SECTION = "pipeline.alerts"
KEYS = ("thresholds", "consecutive", "anomaly", "alarm_events", "max_in_flight")
ANOMALY_KEYS = ("enabled", "alpha", "z", "min_samples", "metrics")


def _predicate(raw: Any, where: str, with_count: bool) -> Predicate:
    if not isinstance(raw, Mapping):
        raise ConfigError(
            where, f"{raw!r} is not an object", 'write {"metric": "temperature", "op": ">", "value": 45}'
        )
    checks.check_keys(raw, (*_PREDICATE_KEYS, "count") if with_count else _PREDICATE_KEYS, where)
    metric, op, value = raw.get("metric"), raw.get("op"), raw.get("value")
    if not isinstance(metric, str) or not metric:
        raise ConfigError(f"{where}.metric", f"{metric!r} is not a metric name", 'e.g. "temperature"')
    if op not in OPS:
        raise ConfigError(f"{where}.op", f"{op!r} is not an operator", f"use one of {list(OPS)}")
    number = checks.number(value, f"{where}.value")
    count = checks.integer(raw.get("count"), f"{where}.count", 2) if with_count else 1
    tenant = raw.get("tenant")
    tenants = None
    if isinstance(tenant, str) and tenant:
        tenants = frozenset([tenant])
    elif tenant is not None:
        tenants = frozenset(checks.names(tenant, f"{where}.tenant"))
    return Predicate(metric, str(op), OPS[op], number, count, tenants)


def parse_alert_rules(section: Mapping[str, Any] | None) -> AlertRules:
    """Validate `pipeline.alerts` (its rules; `max_in_flight` is the alerts bolt's, read by PipelineSettings)."""
    section = checks.obj(section, SECTION)
    checks.check_keys(section, KEYS, SECTION)
    thresholds = section.get("thresholds", [])
    consecutive = section.get("consecutive", [])
    for name, value in (("thresholds", thresholds), ("consecutive", consecutive)):
        if not isinstance(value, list):
            raise ConfigError(f"{SECTION}.{name}", f"{value!r} is not a list of rules", "write [...]")
    raw_anomaly = checks.obj(section.get("anomaly"), f"{SECTION}.anomaly")
    checks.check_keys(raw_anomaly, ANOMALY_KEYS, f"{SECTION}.anomaly")
    where = f"{SECTION}.anomaly"
    alpha = checks.number(raw_anomaly.get("alpha", 0.05), f"{where}.alpha", 0, 1, lo_open=True, hi_open=True)
    z = checks.number(raw_anomaly.get("z", 5.0), f"{where}.z", 0, lo_open=True, unit="a positive number")
    min_samples = checks.integer(raw_anomaly.get("min_samples", 30), f"{where}.min_samples", 2)
    metrics = raw_anomaly.get("metrics")
    anomaly = AnomalySettings(
        enabled=checks.boolean(raw_anomaly.get("enabled", True), f"{where}.enabled"),
        alpha=alpha,
        z=z,
        min_samples=min_samples,
        metrics=frozenset(checks.names(metrics, f"{where}.metrics")) if metrics is not None else None,
    )
    return AlertRules(
        thresholds=tuple(
            _predicate(r, f"{SECTION}.thresholds[{i}]", False) for i, r in enumerate(thresholds)
        ),
        consecutive=tuple(
            _predicate(r, f"{SECTION}.consecutive[{i}]", True) for i, r in enumerate(consecutive)
        ),
        anomaly=anomaly,
        alarm_events=checks.boolean(section.get("alarm_events", True), f"{SECTION}.alarm_events"),
    )


@dataclass
class Ewma:
    """Exponentially weighted mean and variance (West 1979 / Finch 2009 incremental form)."""

    alpha: float
    n: int = 0
    mean: float = 0.0
    var: float = 0.0

    def score(self, x: float) -> float | None:
        if self.n == 0 or self.var <= 0:
            return None
        return abs(x - self.mean) / math.sqrt(self.var)

    def update(self, x: float) -> None:
        if self.n == 0:
            self.mean, self.var = x, 0.0
        else:
            diff = x - self.mean
            incr = self.alpha * diff
            self.mean += incr
            self.var = (1 - self.alpha) * (self.var + diff * incr)
        self.n += 1


@dataclass
class _DeviceState:
    runs: dict[int, int] = field(default_factory=dict)  # consecutive rule index -> current run length
    ewma: dict[str, Ewma] = field(default_factory=dict)
    done: OrderedDict[str, list[Alert] | tuple[Alert, ...]] = field(default_factory=OrderedDict)


DEFAULT_MAX_REPLAYS = 200_000


class AlertEngine:
    def __init__(
        self,
        rules: AlertRules,
        replay_memory: int = 1024,
        max_keys: int = DEFAULT_MAX_KEYS,
        max_replays: int = DEFAULT_MAX_REPLAYS,
    ) -> None:
        self.rules = rules
        self.replay_memory = replay_memory  # event ids remembered per device
        self.max_keys = max_keys
        self.max_replays = max_replays  # event ids remembered over all devices
        # least recently active first
        self._devices: OrderedDict[tuple[str, str], _DeviceState] = OrderedDict()
        self._replays = 0  # event ids remembered, all devices
        self.evicted_keys = 0
        anomaly = rules.anomaly
        self._anomaly_metrics = None if anomaly.metrics is None else tuple(sorted(anomaly.metrics))
        # the rules as flat tuples, read once per event without attribute lookups or method calls
        self._thresholds = tuple(
            (str(i), r.metric, r.op, r.value, r.tenants, r.op_name) for i, r in enumerate(rules.thresholds)
        )
        self._consecutive = tuple(
            (i, str(i), r.metric, r.op, r.value, r.tenants, r.op_name, r.count)
            for i, r in enumerate(rules.consecutive)
        )

    def evaluate(self, event: Event) -> list[Alert]:
        return self._run(
            event.tenant, event.device_id, event.event_id, event.ts, event.type, event.metrics, False
        )

    def evaluate_dict(self, data: Mapping[str, Any]) -> list[Alert]:
        """`evaluate(event_from_dict(data))` without building the Event: `data` is an event's `to_dict()` form
        (as it travels in a batch tuple); its metric values are read as floats, its time as an int."""
        return self.evaluate_fields(event_fields(data))

    def evaluate_fields(self, fields: Sequence[Any]) -> list[Alert]:
        """`evaluate_dict` of a batch entry's positional event fields (squall.pipeline.model.EVENT_KEYS order)."""
        return self._run(fields[0], fields[1], fields[2], fields[3], fields[4], fields[5], True)

    def _run(
        self,
        tenant: str,
        device_id: str,
        event_id: str,
        ts: int,
        etype: str,
        metrics: Mapping[str, Any],
        convert: bool,
    ) -> list[Alert]:
        key = (tenant, device_id)
        devices = self._devices
        state = devices.get(key)
        if state is None:
            state = devices[key] = _DeviceState()
            if len(devices) > self.max_keys:
                self.evicted_keys += 1
                self._replays -= len(devices.popitem(last=False)[1].done)
        else:
            devices.move_to_end(key)
        done = state.done
        earlier = done.get(event_id)
        if earlier is not None:
            return list(earlier)
        if convert:  # read as an int and floats; a batch entry's usually are already (no copy then)
            if type(ts) is not int:
                ts = int(ts)
            for v in metrics.values():
                if type(v) is not float:
                    metrics = {k: float(v) for k, v in metrics.items()}
                    break
        alerts = self._evaluate_fields(tenant, device_id, event_id, ts, etype, metrics, state)
        # an event that raised nothing (nearly all) shares one empty tuple: the memory of a device's last
        # `replay_memory` ids then holds no list per event for the cyclic collector to walk
        done[event_id] = alerts or _NOTHING
        if len(done) > self.replay_memory:
            done.popitem(last=False)
        else:
            self._replays += 1
            if self._replays > self.max_replays:
                self._forget_replays()
        return alerts

    def _forget_replays(self) -> None:
        """Past max_replays: drop the oldest ids of the least recently active devices (their state stays), down to
        nine tenths of the limit, so the devices are walked once per tenth of it, not once per event."""
        target = self.max_replays - self.max_replays // 10
        for state in self._devices.values():
            done = state.done
            while done and self._replays > target:
                done.popitem(last=False)
                self._replays -= 1
            if self._replays <= target:
                return

    def stats(self) -> dict[str, int]:
        return {"devices": len(self._devices), "replays": self._replays, "evicted_keys": self.evicted_keys}

    def _evaluate_fields(
        self,
        tenant: str,
        device_id: str,
        event_id: str,
        ts: int,
        etype: str,
        metrics: Mapping[str, float],
        state: _DeviceState,
    ) -> list[Alert]:
        # Most events raise nothing: the checks below read the rules as flat tuples and do the EWMA arithmetic
        # in place (the same operations, in the same order, as Predicate.reading, Ewma.score and Ewma.update).
        out: list[Alert] = []
        rules = self.rules
        if etype == "alarm" and rules.alarm_events:
            for metric, value in sorted(metrics.items()):
                out.append(
                    Alert(
                        tenant,
                        device_id,
                        f"alarm:event:{event_id}:{metric}",
                        ts,
                        metric,
                        "alarm",
                        value,
                        f"device raised alarm {metric}={value:g}",
                    )
                )
        for rule_id, metric, op, limit, tenants, op_name in self._thresholds:
            if tenants is not None and tenant not in tenants:
                continue
            value = metrics.get(metric)
            if value is not None and op(value, limit):
                out.append(
                    Alert(
                        tenant,
                        device_id,
                        f"threshold:{rule_id}:{event_id}:{metric}",
                        ts,
                        metric,
                        "threshold",
                        value,
                        f"{metric}={value:g} {op_name} {limit:g}",
                    )
                )
        if self._consecutive:
            runs = state.runs
            for i, rule_id, metric, op, limit, tenants, op_name, count in self._consecutive:
                if tenants is not None and tenant not in tenants:
                    continue
                value = metrics.get(metric)
                if value is None:
                    continue
                run = runs.get(i, 0) + 1 if op(value, limit) else 0
                runs[i] = run
                if run == count:
                    out.append(
                        Alert(
                            tenant,
                            device_id,
                            f"consecutive:{rule_id}:{event_id}:{metric}",
                            ts,
                            metric,
                            "consecutive",
                            value,
                            f"{count} consecutive readings {metric} {op_name} {limit:g}",
                        )
                    )
        anomaly = rules.anomaly
        if anomaly.enabled and etype != "alarm":
            watched = self._anomaly_metrics
            if watched is None:
                watched = sorted(metrics)
            ewmas = state.ewma
            alpha, min_samples = anomaly.alpha, anomaly.min_samples
            for metric in watched:
                value = metrics.get(metric)
                if value is None:
                    continue
                ewma = ewmas.get(metric)
                if ewma is None:
                    ewma = ewmas[metric] = Ewma(alpha)
                n, mean, var = ewma.n, ewma.mean, ewma.var
                if n >= min_samples and n != 0 and var > 0:  # Ewma.score
                    z = abs(value - mean) / math.sqrt(var)
                    if z >= anomaly.z:
                        out.append(
                            Alert(
                                tenant,
                                device_id,
                                f"anomaly:ewma:{event_id}:{metric}",
                                ts,
                                metric,
                                "anomaly",
                                value,
                                f"{metric}={value:g} is {z:.1f} sd from its EWMA {mean:g}",
                            )
                        )
                if n == 0:  # Ewma.update
                    ewma.mean, ewma.var = value, 0.0
                else:
                    diff = value - mean
                    incr = ewma.alpha * diff
                    ewma.mean = mean + incr
                    ewma.var = (1 - ewma.alpha) * (var + diff * incr)
                ewma.n = n + 1
        return out
