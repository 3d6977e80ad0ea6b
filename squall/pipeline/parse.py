"""The parse step: original bytes -> a normalised Event, a dead letter, or a dropped producer duplicate."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from squall.clock import Clock, SystemClock
from squall.pipeline.dedup import Deduplicator, Seen, Source
from squall.pipeline.events import InvalidEvent, Limits, decode_event
from squall.pipeline.model import DeadLetter, Event
from squall.pipeline.settings import section


@dataclass(frozen=True)
class Parsed:
    event: Event | None = None
    dead_letter: DeadLetter | None = None
    duplicate: bool = False


class Parser:
    """`pipeline.parse`: dedup_horizon (event ids remembered per tenant), max_payload_bytes, max_metrics,
    max_attrs_bytes."""

    def __init__(self, settings: Mapping[str, Any], clock: Clock | None = None) -> None:
        conf = section(settings, "parse")
        self.limits = Limits.from_settings(conf)
        self.dedup = Deduplicator(int(conf.get("dedup_horizon", 10_000)))
        self.clock = clock or SystemClock()
        self.counts = {"valid": 0, "invalid": 0, "duplicates": 0, "replays": 0}

    def parse(self, payload: bytes, source: Source) -> Parsed:
        try:
            event = decode_event(payload, self.limits)
        except InvalidEvent as exc:
            self.counts["invalid"] += 1
            return Parsed(
                dead_letter=DeadLetter(
                    reason=exc.reason,
                    detail=exc.detail,
                    payload=payload,
                    source_topic=source[0],
                    source_partition=source[1],
                    source_offset=source[2],
                    ts=self.clock.wall_ms(),
                )
            )
        seen = self.dedup.check(event.tenant, event.event_id, source)
        if seen is Seen.DUPLICATE:
            self.counts["duplicates"] += 1
            return Parsed(duplicate=True)
        self.counts["replays" if seen is Seen.REPLAY else "valid"] += 1
        return Parsed(event=event)
