"""The window engine: per-key watermarks, lateness, idle flush, and which tuples each window holds.

Rules (documented in docs/pipeline.md, reproduced independently by squall.pipeline.truth):
- Watermarks are per key (tenant, device_id): `watermark = max event time seen for the key - allowed lateness`.
  Per key, because a device's events stay in order through Kafka (keyed by device), so whether an event is
  late depends only on that device's own sequence, not on how partitions interleave.
- An event is late when its time is below the key's watermark on arrival; it is counted in no window.
- A window [start, end) closes when the key's watermark reaches `end`; it emits once.
- A window de-duplicates by event id, so a re-delivered event never counts twice.
- Idle: when a key has received nothing for `idle_timeout_s` on the (injected) clock, all its open windows
  close and its watermark moves to the end of the last of them. A bounded run relies on this to flush.
- A tuple is released (to be acked) when every window it was added to has closed. A re-delivery of an event
  whose windows already closed re-emits those windows, so a failed downstream write is repaired by the replay
  instead of being dead-lettered as late. Closed windows are kept for `retain_closed_s` of processing time on
  the clock (the windowed bolt uses twice the message timeout: a tree fails, and its tuples replay, within it).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

from squall.clock import Clock
from squall.windowing.assigner import window_ranges
from squall.windowing.definitions import WindowDefinition, WindowSettings
from squall.windowing.stats import MetricAccumulator, Summary

Key = tuple[str, str]
NO_WATERMARK = -(2**63)


@dataclass
class _Window:
    definition: WindowDefinition
    start: int
    end: int
    event_ids: set[str] = field(default_factory=set)
    metrics: dict[str, MetricAccumulator] = field(default_factory=dict)
    tokens: list[Hashable] = field(default_factory=list)


@dataclass(frozen=True)
class ClosedWindow:
    key: Key
    definition: WindowDefinition
    start: int
    end: int
    results: Mapping[str, Summary]  # metric -> summary
    tokens: tuple[Hashable, ...]  # the tuples this window's output is anchored to
    event_ids: frozenset[str]


@dataclass
class Outcome:
    late: bool = False
    duplicate: bool = False  # every window already had this event id
    watermark: int = NO_WATERMARK
    closed: list[ClosedWindow] = field(default_factory=list)
    reemitted: list[ClosedWindow] = field(default_factory=list)  # closed windows a replay re-emits
    released: list[Hashable] = field(default_factory=list)  # tokens whose windows all closed: ack them


@dataclass
class _KeyState:
    max_ts: int = NO_WATERMARK
    watermark: int = NO_WATERMARK
    last_seen: float = 0.0
    open: dict[tuple[WindowDefinition, int], _Window] = field(default_factory=dict)
    recent: list[tuple[float, ClosedWindow]] = field(default_factory=list)  # (closed at, window)


class WindowManager:
    def __init__(self, settings: WindowSettings, clock: Clock, retain_closed_s: float = 180.0) -> None:
        self.settings = settings
        self.clock = clock
        self._keys: dict[Key, _KeyState] = {}
        self._pending: dict[Hashable, int] = {}  # token -> open windows holding it
        self._retain_s = retain_closed_s

    # --- input -------------------------------------------------------------------------------------------
    def add(self, key: Key, event_id: str, ts: int, values: Mapping[str, float], token: Hashable) -> Outcome:
        state = self._keys.get(key)
        if state is None:
            state = self._keys[key] = _KeyState()
        state.last_seen = self.clock.now()
        if ts < state.watermark:
            again = [w for _, w in state.recent if w.start <= ts < w.end and event_id in w.event_ids]
            if again:
                return Outcome(watermark=state.watermark, reemitted=again, released=[token])
            return Outcome(late=True, watermark=state.watermark, released=[token])
        added = 0
        for definition in self.settings.definitions:
            for start, end in window_ranges(ts, definition):
                window = state.open.get((definition, start))
                if window is None:
                    window = state.open[(definition, start)] = _Window(definition, start, end)
                if event_id in window.event_ids:
                    continue
                window.event_ids.add(event_id)
                for metric, value in values.items():
                    acc = window.metrics.get(metric)
                    if acc is None:
                        acc = window.metrics[metric] = MetricAccumulator(self.settings.relative_accuracy)
                    acc.add(event_id, value)
                window.tokens.append(token)
                added += 1
        outcome = Outcome(duplicate=added == 0)
        if added:
            self._pending[token] = self._pending.get(token, 0) + added
        else:
            outcome.released.append(token)
        if ts > state.max_ts:
            state.max_ts = ts
            state.watermark = max(state.watermark, ts - self.settings.allowed_lateness_ms)
        outcome.watermark = state.watermark
        self._close(key, state, state.watermark, outcome)
        return outcome

    # --- time --------------------------------------------------------------------------------------------
    def on_tick(self) -> Outcome:
        """Close every window of every key idle for at least idle_timeout_s (call on each tick tuple)."""
        now = self.clock.now()
        outcome = Outcome()
        for key, state in self._keys.items():
            if state.open and now - state.last_seen >= self.settings.idle_timeout_s:
                self._flush_key(key, state, outcome)
            self._prune(state)
        return outcome

    def flush(self) -> Outcome:
        """Close every open window now (end of a bounded run)."""
        outcome = Outcome()
        for key, state in self._keys.items():
            if state.open:
                self._flush_key(key, state, outcome)
        return outcome

    def _flush_key(self, key: Key, state: _KeyState, outcome: Outcome) -> None:
        last_end = max(w.end for w in state.open.values())
        state.watermark = max(state.watermark, last_end)
        self._close(key, state, state.watermark, outcome)

    # --- closing -----------------------------------------------------------------------------------------
    def _close(self, key: Key, state: _KeyState, watermark: int, outcome: Outcome) -> None:
        due = [w for w in state.open.values() if w.end <= watermark]
        if due:
            due.sort(key=lambda w: (w.end, w.definition))
            for window in due:
                del state.open[(window.definition, window.start)]
                closed = ClosedWindow(
                    key=key,
                    definition=window.definition,
                    start=window.start,
                    end=window.end,
                    results={m: acc.summary() for m, acc in sorted(window.metrics.items())},
                    tokens=tuple(window.tokens),
                    event_ids=frozenset(window.event_ids),
                )
                outcome.closed.append(closed)
                state.recent.append((self.clock.now(), closed))
                for token in window.tokens:
                    left = self._pending[token] - 1
                    if left:
                        self._pending[token] = left
                    else:
                        del self._pending[token]
                        outcome.released.append(token)
        self._prune(state)

    def _prune(self, state: _KeyState) -> None:
        if state.recent and state.recent[0][0] < self.clock.now() - self._retain_s:
            horizon = self.clock.now() - self._retain_s
            state.recent = [(at, w) for at, w in state.recent if at >= horizon]

    # --- introspection -----------------------------------------------------------------------------------
    def open_windows(self) -> int:
        return sum(len(s.open) for s in self._keys.values())

    def pending_tokens(self) -> int:
        return len(self._pending)

    def watermark(self, key: Key) -> int:
        state = self._keys.get(key)
        return state.watermark if state else NO_WATERMARK

    def stats(self) -> dict[str, Any]:
        return {
            "keys": len(self._keys),
            "open_windows": self.open_windows(),
            "pending_tuples": self.pending_tokens(),
        }
