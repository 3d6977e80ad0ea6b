"""The window engine as it was before the per-event speed-ups (squall 47f9f3b), kept as the reference that
test_engine_equivalence compares the current engine with, operation by operation. Not used by squall."""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ddsketch import DDSketch

from squall.clock import Clock
from squall.windowing.definitions import WindowDefinition, WindowSettings
from squall.windowing.stats import Summary


def window_ranges(ts_ms: int, definition: WindowDefinition) -> list[tuple[int, int]]:
    """squall.windowing.assigner.window_ranges as it was."""
    slide, length = definition.slide_ms, definition.length_ms
    last_start = ts_ms - ts_ms % slide
    starts = range(last_start, ts_ms - length, -slide)
    return [(start, start + length) for start in reversed(starts)]


def summarize(values: Iterable[float], relative_accuracy: float = 0.01) -> Summary:
    """squall.windowing.stats.summarize as it was: the sketch fed one add per value."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("summary of an empty window")
    total = math.fsum(ordered)
    count = len(ordered)
    sketch = DDSketch(relative_accuracy)
    for value in ordered:
        sketch.add(value)
    low, high = ordered[0], ordered[-1]
    p50, p95 = (sketch.get_quantile_value(q) for q in (0.5, 0.95))
    p50, p95 = min(max(p50, low), high), min(max(p95, low), high)  # type: ignore[type-var]
    return Summary(count, total, ordered[0], ordered[-1], total / count, p50, p95)


Key = tuple[str, str]
# (key, definition, window_start, metric) -> False: no row; True: a complete row; (ids, values): a provisional row
StoredOracle = Callable[[Key, WindowDefinition, int, str], Any]
NO_WATERMARK = -(2**63)


@dataclass
class _Window:
    definition: WindowDefinition
    start: int
    end: int
    event_ids: set[str] = field(default_factory=set)
    metrics: dict[str, list[float]] = field(default_factory=dict)  # distinct events' values per metric
    tokens: list[Hashable] = field(default_factory=list)
    asked: set[str] | None = None  # recovery: metrics whose row the store was asked about
    stored: set[str] | None = None  # recovery: metrics whose row the store already holds (not counted here)
    drafted: bool = False  # a provisional row of it was stored


@dataclass(frozen=True)
class ClosedWindow:
    key: Key
    definition: WindowDefinition
    start: int
    end: int
    results: Mapping[str, Summary]  # metric -> summary
    tokens: tuple[Hashable, ...]  # the tuples this window's output is anchored to
    event_ids: frozenset[str]
    draft: Mapping[str, list[float]] | None = None  # a provisional close: every metric's values
    clears_draft: bool = False  # a final close of a window stored with a draft


@dataclass
class Outcome:
    late: bool = False
    duplicate: bool = False  # every window already had this event id
    watermark: int = NO_WATERMARK
    closed: list[ClosedWindow] = field(default_factory=list)
    reemitted: list[ClosedWindow] = field(default_factory=list)  # closed windows a replay re-emits
    released: list[Hashable] = field(default_factory=list)  # tokens whose windows all closed: ack them
    stored: bool = False  # recovery: every window of this event is already in the store (a re-delivery)


@dataclass
class _Closed:
    at: float  # processing time of the (last) close
    window: _Window  # its state: reopenable while provisional; values dropped once final
    result: ClosedWindow
    final: bool  # the key's watermark passed its end: no on-time event can join it any more


@dataclass
class _KeyState:
    max_ts: int = NO_WATERMARK
    watermark: int = NO_WATERMARK
    last_seen: float = 0.0
    open: dict[tuple[WindowDefinition, int], _Window] = field(default_factory=dict)
    # emitted windows, oldest close first, kept `retain_closed_s` for re-deliveries (and reopening)
    closed: dict[tuple[WindowDefinition, int], _Closed] = field(default_factory=dict)
    provisional: int = 0  # closed windows not final yet


class WindowManager:
    def __init__(self, settings: WindowSettings, clock: Clock, retain_closed_s: float = 180.0) -> None:
        self.settings = settings
        self.clock = clock
        self._keys: dict[Key, _KeyState] = {}
        self._pending: dict[Hashable, int] = {}  # token -> open windows holding it
        self._retain_s = retain_closed_s
        self._oracle: StoredOracle | None = None
        self._recover_until = 0.0

    def recover_from(self, oracle: StoredOracle, horizon_s: float) -> None:
        """For `horizon_s` of processing time from now, ask `oracle(key, definition, window_start, metric)` about
        each (window, metric) a new window gets, before counting anything in it. A row the store holds was
        written whole when a previous instance closed the window, so the replayed events are not counted there
        again (a partial rebuild from a replayed tail would overwrite the complete row)."""
        self._oracle = oracle
        self._recover_until = self.clock.now() + horizon_s

    def recovering(self) -> bool:
        """Within the `recover_from` horizon (a fresh instance that may see a previous one's replays)."""
        return self._oracle is not None and self.clock.now() < self._recover_until

    # --- input -------------------------------------------------------------------------------------------
    def add(self, key: Key, event_id: str, ts: int, values: Mapping[str, float], token: Hashable) -> Outcome:
        state = self._keys.get(key)
        if state is None:
            state = self._keys[key] = _KeyState()
        state.last_seen = self.clock.now()
        if ts < state.watermark:
            return self._behind_watermark(state, event_id, ts, token)
        if self._oracle is not None:
            self._ask_store(key, state, ts, values)
        added = held = skipped = 0
        open_windows = state.open
        reemitted: list[ClosedWindow] = []
        for definition in self.settings.definitions:
            for start, end in window_ranges(ts, definition):
                window = open_windows.get((definition, start))
                if window is None:
                    done = state.closed.get((definition, start)) if state.closed else None
                    if done is not None and event_id in done.window.event_ids:
                        reemitted.append(done.result)  # a re-delivery after an (idle) close: re-emit
                        continue
                    if done is not None and not done.final:
                        # on time for a window an idle timeout closed early: reopen it; its next emit amends
                        del state.closed[(definition, start)]
                        state.provisional -= 1
                        window = done.window
                        window.tokens = []
                        open_windows[(definition, start)] = window
                    else:
                        window = open_windows[(definition, start)] = _Window(definition, start, end)
                ids = window.event_ids
                if event_id in ids:
                    # A re-delivery (or a duplicate parse let through): counted once, but held and anchored
                    # like the first delivery, so a failed write of this window still replays through it.
                    window.tokens.append(token)
                    held += 1
                    continue
                counted = values
                if window.stored:
                    counted = {m: v for m, v in values.items() if m not in window.stored}
                    if not counted:  # every metric is already stored here: count and hold nothing
                        ids.add(event_id)  # but know the id, so a re-delivery is not taken for a late event
                        skipped += 1
                        continue
                ids.add(event_id)
                metrics = window.metrics
                for metric, value in counted.items():
                    series = metrics.get(metric)
                    if series is None:
                        metrics[metric] = [value]
                    else:
                        series.append(value)
                window.tokens.append(token)
                added += 1
        stored = skipped > 0 and added + held == 0
        outcome = Outcome(duplicate=added == 0 and not stored, stored=stored, reemitted=reemitted)
        if added + held:
            self._pending[token] = self._pending.get(token, 0) + added + held
        elif token not in self._pending:  # a held batch token is released by `unhold`
            outcome.released.append(token)
        if ts > state.max_ts:
            state.max_ts = ts
            watermark = ts - self.settings.allowed_lateness_ms
            if watermark > state.watermark:
                # Only a moving watermark can make a window due (a window holding ts ends after it).
                state.watermark = watermark
                self._close(key, state, watermark, outcome)
        outcome.watermark = state.watermark
        return outcome

    def _ask_store(self, key: Key, state: _KeyState, ts: int, values: Mapping[str, float]) -> None:
        """Recovery: learn which (window, metric) rows of this event the store holds, before anything is counted
        (if the oracle raises, no window has counted the event). Windows opened after the horizon ask nothing."""
        oracle = self._oracle
        if oracle is None or self.clock.now() >= self._recover_until:
            self._oracle = None
            return
        for definition in self.settings.definitions:
            for start, end in window_ranges(ts, definition):
                window = state.open.get((definition, start))
                if window is None:
                    if (definition, start) in state.closed:
                        continue  # this instance emitted it: never ask the store about its own windows
                    window = state.open[(definition, start)] = _Window(definition, start, end, asked=set())
                if window.asked is None:
                    continue  # opened before recover_from: this instance saw it from its start
                for metric in values:
                    if metric not in window.asked:
                        found = oracle(key, definition, start, metric)
                        if found is True:
                            if window.stored is None:
                                window.stored = set()
                            window.stored.add(metric)
                        elif found:
                            ids, drafted = found
                            window.event_ids |= set(ids)
                            if drafted:
                                window.metrics[metric] = list(drafted) + window.metrics.get(metric, [])
                            window.drafted = True
                        window.asked.add(metric)

    def _behind_watermark(self, state: _KeyState, event_id: str, ts: int, token: Hashable) -> Outcome:
        """An event older than the watermark. A re-delivery of an event already counted is not late: closed
        windows that counted it are re-emitted (a downstream write failed), open windows that counted it hold
        the new delivery until they close. Otherwise the event is late (in no window)."""
        again = [
            c.result
            for c in state.closed.values()
            if c.window.start <= ts < c.window.end and event_id in c.window.event_ids
        ]
        held = 0
        for window in state.open.values():
            if window.start <= ts < window.end and event_id in window.event_ids:
                window.tokens.append(token)
                held += 1
        if not again and not held:
            return Outcome(
                late=True, watermark=state.watermark, released=[] if token in self._pending else [token]
            )
        outcome = Outcome(duplicate=not again, watermark=state.watermark, reemitted=again)
        if held:
            self._pending[token] = self._pending.get(token, 0) + held
        elif token not in self._pending:
            outcome.released.append(token)
        return outcome

    # --- batches -----------------------------------------------------------------------------------------
    def hold(self, token: Hashable) -> None:
        """Hold `token` while the events of one batch tuple are added under it: windows that close in between
        do not release it, and events that join no window do not release it either."""
        self._pending[token] = self._pending.get(token, 0) + 1

    def unhold(self, token: Hashable) -> bool:
        """End of the batch: True when no open window holds `token` any more (ack it now)."""
        left = self._pending[token] - 1
        if left:
            self._pending[token] = left
            return False
        del self._pending[token]
        return True

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
        """Close every open window of the key now, without moving its watermark (provisional closes)."""
        self._close(key, state, None, outcome)

    # --- closing -----------------------------------------------------------------------------------------
    def _close(self, key: Key, state: _KeyState, watermark: int | None, outcome: Outcome) -> None:
        """Close the windows ending at or before `watermark` (None: all open windows)."""
        if watermark is None:
            due = list(state.open.values())
        else:
            due = [w for w in state.open.values() if w.end <= watermark]
            if state.provisional:
                self._finalize(state, outcome)
        if due:
            due.sort(key=lambda w: (w.end, w.definition))
            for window in due:
                del state.open[(window.definition, window.start)]
                final = window.end <= state.watermark
                drafts = not final and len(window.event_ids) <= self.settings.max_draft_events
                closed = ClosedWindow(
                    key=key,
                    definition=window.definition,
                    start=window.start,
                    end=window.end,
                    results={
                        m: summarize(v, self.settings.relative_accuracy)
                        for m, v in sorted(window.metrics.items())
                    },
                    tokens=tuple(window.tokens),
                    event_ids=frozenset(window.event_ids),
                    draft=None if not drafts else {m: list(v) for m, v in window.metrics.items()},
                    clears_draft=not drafts and window.drafted,
                )
                if not final:
                    window.drafted = drafts
                outcome.closed.append(closed)
                if final:
                    window.metrics = {}  # only the ids are needed to recognise re-deliveries
                else:
                    state.provisional += 1
                state.closed[(window.definition, window.start)] = _Closed(
                    self.clock.now(), window, closed, final
                )
                for token in window.tokens:
                    left = self._pending[token] - 1
                    if left:
                        self._pending[token] = left
                    else:
                        del self._pending[token]
                        outcome.released.append(token)
        self._prune(state)

    def _finalize(self, state: _KeyState, outcome: Outcome) -> None:
        """Provisional windows the watermark has now passed are final (drop their values); a row stored with a
        draft is emitted again without it."""
        for done in state.closed.values():
            if not done.final and done.window.end <= state.watermark:
                done.final = True
                if done.window.drafted:
                    done.result = replace(done.result, draft=None, clears_draft=True)
                    outcome.reemitted.append(done.result)
                done.window.metrics = {}
                state.provisional -= 1

    def _prune(self, state: _KeyState) -> None:
        closed = state.closed
        if not closed:
            return
        horizon = self.clock.now() - self._retain_s
        if next(iter(closed.values())).at >= horizon:
            return  # oldest first: nothing to forget yet
        for k in [k for k, c in closed.items() if c.at < horizon]:
            done = closed.pop(k)
            if not done.final:
                # forgotten while reopenable: later events of it are late from now on (see module doc)
                state.provisional -= 1
                state.watermark = max(state.watermark, done.window.end)

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
