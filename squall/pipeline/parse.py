"""The parse step: original bytes -> a normalised Event, a dead letter, or a dropped producer duplicate.

Nothing a message holds can make this raise: a payload that breaks the contract is dead-lettered with its reason
(squall.pipeline.events), one whose event time is more than `max_future_skew_s` ahead of the wall clock as
`future_ts` (it would move its device's watermark into the future and make every later on-time event late), and
any other exception while handling one message as `processing_error:parse:<ExceptionType>`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from squall.clock import Clock, SystemClock
from squall.pipeline.dead_letters import oversized_detail, processing_error, safe_text, truncate
from squall.pipeline.dedup import Deduplicator, Seen, Source
from squall.pipeline.events import EventDecoder, InvalidEvent, Limits, event_from_dict
from squall.pipeline.model import DeadLetter, Event
from squall.pipeline.settings import PipelineSettings


@dataclass(frozen=True)
class Parsed:
    event: Event | None = None
    dead_letter: DeadLetter | None = None
    duplicate: bool = False


class Parser:
    """`pipeline.parse`: dedup_horizon (event ids remembered), max_payload_bytes, max_metrics, max_attrs_bytes,
    max_depth, max_future_skew_s, dead_letter_prefix_bytes."""

    def __init__(self, settings: PipelineSettings | Mapping[str, Any], clock: Clock | None = None) -> None:
        conf = PipelineSettings.of(settings).parse
        self.limits = Limits.from_settings(conf)
        self.decoder = EventDecoder(self.limits)
        self.dedup = Deduplicator(conf.dedup_horizon)
        self.future_skew_ms = int(conf.max_future_skew_s * 1000)
        self.prefix_bytes = conf.dead_letter_prefix_bytes
        self.clock = clock or SystemClock()
        self.counts = {"valid": 0, "invalid": 0, "duplicates": 0, "replays": 0, "errors": 0}

    def parse(self, payload: bytes, source: Source) -> Parsed:
        try:
            return self._parse(payload, source)
        except Exception as exc:  # noqa: BLE001 - one message never stops the stream
            self.counts["errors"] += 1
            return Parsed(dead_letter=processing_error("parse", exc, payload, source, self.clock.wall_ms()))

    def _parse(self, payload: bytes, source: Source) -> Parsed:
        outcome = self.entry(payload, source)
        if outcome is None:
            return Parsed(duplicate=True)
        if isinstance(outcome, DeadLetter):
            return Parsed(dead_letter=outcome)
        return Parsed(event=event_from_dict(outcome))

    def entry(self, payload: bytes, source: Source) -> dict[str, Any] | DeadLetter | None:
        """One message: the valid event's dict form (`Event.to_dict()`, as batches carry it), its DeadLetter, or
        None for a dropped producer duplicate. An unexpected exception propagates (`parse` dead-letters it as a
        processing error); nothing else is built per event."""
        if len(payload) > self.limits.max_payload_bytes:
            prefix, detail = truncate(payload, self.limits.max_payload_bytes, self.prefix_bytes)
            return self._dead_letter("too_large", detail, prefix, source)
        try:
            data = self.decoder.decode(payload)
        except InvalidEvent as exc:
            return self._dead_letter(exc.reason, exc.detail, payload, source)
        ts = data["ts"]
        now = self.clock.wall_ms()
        if ts > now + self.future_skew_ms:
            return self._dead_letter(
                "future_ts",
                f"event time {ts} is {(ts - now) / 1000:.0f} s ahead of the wall clock "
                f"(max_future_skew_s {self.future_skew_ms / 1000:g})",
                payload,
                source,
            )
        seen = self.dedup.check(data["tenant"], data["event_id"], source)
        if seen is Seen.NEW:
            self.counts["valid"] += 1
        elif seen is Seen.REPLAY:
            self.counts["replays"] += 1
        else:
            self.counts["duplicates"] += 1
            return None
        return data

    def oversized(self, prefix: bytes, size: int, sha256: str, source: Source) -> Parsed:
        """A message the spout already cut to its prefix (see EventSpout): dead-lettered as `too_large`."""
        kept = prefix[: self.prefix_bytes]
        detail = oversized_detail(size, self.limits.max_payload_bytes, sha256, len(kept))
        return self._invalid("too_large", detail, kept, source)

    def _invalid(self, reason: str, detail: str, payload: bytes, source: Source) -> Parsed:
        return Parsed(dead_letter=self._dead_letter(reason, detail, payload, source))

    def _dead_letter(self, reason: str, detail: str, payload: bytes, source: Source) -> DeadLetter:
        self.counts["invalid"] += 1
        return DeadLetter(
            reason=reason,
            detail=safe_text(detail),
            payload=payload,
            source_topic=source[0],
            source_partition=source[1],
            source_offset=source[2],
            ts=self.clock.wall_ms(),
        )
