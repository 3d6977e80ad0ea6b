"""Routing rules: which named streams an event goes to, from config.json `pipeline.routing`.

    "routing": {
      "rules": [
        {"stream": "telemetry", "type": ["telemetry", "status"]},
        {"stream": "alarms", "type": "alarm"},
        {"stream": "alarms", "metric": "temperature", "op": ">", "value": 90},
        {"stream": "archive"}
      ]
    }

A rule matches when every condition it has matches: `type`, `tenant` (a string or a list), `metric` (the event
has that metric) and optionally `op`+`value` (a predicate on that metric). An event goes to every stream with a
matching rule, once per stream; an event no rule matches goes nowhere (it is acked). The streams are route's
outputs: telemetry, alarms and archive.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from squall import checks
from squall.errors import ConfigError
from squall.pipeline.model import Event

STREAMS = ("telemetry", "alarms", "archive")
OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}
_KEYS = {"stream", "type", "tenant", "metric", "op", "value"}
DEFAULT_RULES: list[dict[str, Any]] = [
    {"stream": "telemetry", "type": ["telemetry", "status"]},
    {"stream": "alarms", "type": "alarm"},
]
# The raw-event archive (one `events` row per valid event) is opt-in: Kafka already keeps the raw events for its
# retention and a dead letter keeps its own bytes, while the archive costs Cassandra more than everything else
# the pipeline writes (docs/pipeline.md, "Cost per event"). These rules are the defaults plus the archive.
ARCHIVE_RULES: list[dict[str, Any]] = [*DEFAULT_RULES, {"stream": "archive"}]


@dataclass(frozen=True)
class Rule:
    stream: str
    types: frozenset[str] | None = None
    tenants: frozenset[str] | None = None
    metric: str | None = None
    op: Callable[[float, float], bool] | None = None
    value: float = 0.0

    def matches(self, event: Event) -> bool:
        return self.matches_fields(event.type, event.tenant, event.metrics)

    def matches_fields(self, etype: str, tenant: str, metrics: Mapping[str, float]) -> bool:
        if self.types is not None and etype not in self.types:
            return False
        if self.tenants is not None and tenant not in self.tenants:
            return False
        if self.metric is not None:
            reading = metrics.get(self.metric)
            if reading is None:
                return False
            if self.op is not None and not self.op(reading, self.value):
                return False
        return True


def _names(value: Any, where: str) -> frozenset[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return frozenset([value])
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return frozenset(value)
    raise ConfigError(
        where, f"{value!r} is not a name or a list of names", 'write e.g. "alarm" or ["a", "b"]'
    )


def parse_rules(section: Mapping[str, Any] | None, streams: Sequence[str] = STREAMS) -> list[Rule]:
    """Validate `pipeline.routing`; ConfigError names the rule index, key and fix."""
    section = checks.obj(section, "pipeline.routing")
    checks.check_keys(section, ("rules",), "pipeline.routing")
    raw_rules = section.get("rules", DEFAULT_RULES)
    if not isinstance(raw_rules, list):
        raise ConfigError(
            "pipeline.routing.rules", f"{raw_rules!r} is not a list of rules", 'write [{"stream": "archive"}]'
        )
    rules = []
    for i, raw in enumerate(raw_rules):
        where = f"pipeline.routing.rules[{i}]"
        if not isinstance(raw, Mapping):
            raise ConfigError(where, f"{raw!r} is not an object")
        checks.check_keys(raw, _KEYS, where)
        stream = raw.get("stream")
        if stream not in streams:
            raise ConfigError(
                f"{where}.stream", f"{stream!r} is not a stream of route", f"use one of {list(streams)}"
            )
        op = None
        if "op" in raw or "value" in raw:
            if raw.get("op") not in OPS or "metric" not in raw:
                raise ConfigError(
                    where, "a predicate needs metric, op and value", f"op is one of {list(OPS)}"
                )
            checks.number(raw.get("value"), f"{where}.value")
            op = OPS[raw["op"]]
        metric = raw.get("metric")
        if metric is not None and not isinstance(metric, str):
            raise ConfigError(f"{where}.metric", f"{metric!r} is not a metric name")
        rules.append(
            Rule(
                stream=str(stream),
                types=_names(raw.get("type"), f"{where}.type"),
                tenants=_names(raw.get("tenant"), f"{where}.tenant"),
                metric=metric,
                op=op,
                value=float(raw.get("value", 0.0)),
            )
        )
    return rules


def route(event: Event, rules: Sequence[Rule]) -> list[str]:
    """The streams `event` goes to, in rule order, each once."""
    return route_fields(event.type, event.tenant, event.metrics, rules)


def route_fields(etype: str, tenant: str, metrics: Mapping[str, float], rules: Sequence[Rule]) -> list[str]:
    """`route` on an event's fields (e.g. straight from a tuple's event dict, without building an Event)."""
    out: list[str] = []
    for rule in rules:
        if rule.stream not in out and rule.matches_fields(etype, tenant, metrics):
            out.append(rule.stream)
    return out
