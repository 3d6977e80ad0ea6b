"""The window engine: per-key watermarks, lateness, idle flush, and which tuples each window holds.

Rules (documented in docs/pipeline.md, reproduced independently by squall.pipeline.truth):
- Watermarks are per key (tenant, device_id): `watermark = max event time seen for the key - allowed lateness`.
  Per key, because a device's events stay in order through Kafka (keyed by device), so whether an event is
  late depends only on that device's own sequence, not on how partitions interleave.
- An event is late when its time is below the key's watermark on arrival; it is counted in no window.
- A window [start, end) closes when the key's watermark reaches `end`; it emits once.
- A window de-duplicates by event id, so a re-delivered event never counts twice.
- Idle: when a key has received nothing for `idle_timeout_s` on the (injected) clock, all its open windows
  close (they are emitted; a bounded run relies on this to flush) but its watermark does NOT move: the close
  is provisional. A stalled pipeline (backpressure, a slow store, a restarting task) looks exactly like an idle
  device, so an event that arrives later and is on time by the watermark rule reopens its window, which emits
  again with every event it counted: the store's upsert replaces the early row with the complete one. The
  idle timeout is thus a latency setting, never a correctness one. A provisional window stays reopenable for
  `retain_closed_s` of processing time; when it is forgotten, the key's watermark moves to its end (from then
  on its events are late, never a partial rebuild that would overwrite the stored row).
- A tuple is released (to be acked) when every window it was added to has closed. A tuple carrying a batch of
  events is `hold`-ed while its events are added and `unhold`-ed after; it is released once that is done and
  every window any of its events joined has closed. A re-delivery of an event
  whose windows already closed re-emits those windows, so a failed downstream write is repaired by the replay
  instead of being dead-lettered as late. Closed windows are kept for `retain_closed_s` of processing time on
  the clock (the windowed bolt uses the replay horizon: 4 message timeouts by default, WindowSettings.replay_horizon).
- Recovery (`recover_from`): a fresh instance does not know which windows a previous one closed and stored.
  During a horizon after its start it asks the store about each (window, metric) before counting; a row stored
  by a final close is complete, so that metric is not counted again there. An event all of whose windows are
  stored is released at once (`Outcome.stored`). A replay of a committed-offset tail thus never overwrites a
  complete row with a partial one. A provisional close (idle, eviction) emits the window with its values
  (`ClosedWindow.draft`): its row carries a draft of the event ids and values, and a fresh instance goes on from
  it (`Draft`). The final emit clears it (`clears_draft`); a provisional window the watermark passes without
  reopening is emitted again, in `reemitted`, to clear it.
- Bounded memory (`WindowSettings.max_keys`, `max_closed_windows`), whatever the number of keys:
  - At most `max_keys` keys are live (watermark, open windows). A new key past it evicts the least recently
    active one as if it went idle: its open windows close provisionally (emitted, their tuples released) and
    it rests, keeping its watermark and closed windows, so an on-time event that comes back reopens and amends
    a window, as after an idle close. At most `max_keys` keys rest; a resting key is forgotten when its closed
    windows are (by retention or the cap below), or when more keys are evicted.
  - At most `max_closed_windows` closed windows are retained, over all keys: past it the oldest is forgotten
    as if its retention had passed (a provisional one moves its key's watermark to its end).
  - A forgotten key leaves only a fence: the end of the last window it emitted (or its watermark, if later),
    kept in a fixed table of FENCES slots by hash of key, the largest of the keys sharing a slot. A key the
    engine does not remember starts with its slot's fence as watermark, so an event of a forgotten key for a
    window it already emitted is late (dead-lettered), never a partial row written over the stored one. Keys
    that share a slot with a forgotten key may see their first events called late too: the price of a bound.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import OrderedDict
from collections.abc import Callable, Collection, Hashable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from squall.clock import Clock
from squall.windowing.assigner import window_starts
from squall.windowing.definitions import WindowDefinition, WindowSettings
from squall.windowing.stats import Summary, summarize

Key = tuple[str, str]
# A provisional row's draft, as a store keeps it: the ids of the events its window counted and the metric's values
Draft = tuple[Collection[str], Sequence[float]]
# (key, definition, window_start, metric) -> False: no row; True: a complete row; a Draft: a provisional row
StoredOracle = Callable[[Key, WindowDefinition, int, str], "bool | Draft"]
# (key, event time, metric values): True when the store certainly holds no row of these metrics for any window
# holding that time (so the oracle need not be asked about them)
ClearOracle = Callable[[Key, int, Mapping[str, float]], bool]
# (key, position) -> the largest event time a previous instance had seen at positions of that stream before this
# one, from the marks its stored rows carry (`ClosedWindow.source`); NO_WATERMARK when none is known
StoredBound = Callable[[Key, "Position"], int]
NO_WATERMARK = -(2**63)
NO_END = 2**63  # a key with no open window: no watermark makes one due
FENCES = 1 << 16  # slots of the table of forgotten keys' fences (allocated when a first key is forgotten)
WindowKey = tuple[int, int]  # (definition id, window start)
# Where an event sits in its source: (stream, position), e.g. ((topic, partition), offset). Positions of one stream
# are ordered as the events were produced.
Position = tuple[Hashable, int]
_MIXED = object()  # a key whose events came from more than one stream: its order is arrival order
STAIRCASE = 64  # breakpoints a key keeps before dropping those no retained window needs
_NO_IDS: set[str] = set()  # the ids of every final closed window (never added to: final windows never reopen)


@dataclass(slots=True)
class _Window:
    definition: WindowDefinition
    start: int
    end: int
    rank: int  # the definition's id in the manager (its place in WindowDefinition's order)
    event_ids: set[str] = field(default_factory=set)
    metrics: dict[str, list[float]] = field(default_factory=dict)  # distinct events' values per metric
    tokens: list[Hashable] = field(default_factory=list)
    asked: set[str] | None = None  # recovery: metrics whose row the store was asked about
    stored: set[str] | None = None  # recovery: metrics whose row the store already holds (not counted here)
    drafted: bool = (
        False  # a provisional row of it was stored (by this instance, or a previous one): see Draft
    )


@dataclass(frozen=True)
class ClosedWindow:
    key: Key
    definition: WindowDefinition
    start: int
    end: int
    results: Mapping[str, Summary]  # metric -> summary
    tokens: tuple[Hashable, ...]  # the tuples this window's output is anchored to
    event_ids: frozenset[str]
    # A provisional close (an idle timeout or an eviction closed it before the watermark passed its end): the
    # values of every metric, so the stored row carries a draft a fresh instance can go on from (`recover_from`).
    draft: Mapping[str, list[float]] | None = None
    # A final close of a window whose row was stored with a draft: the row's draft must be cleared.
    clears_draft: bool = False
    # The key's source-order mark when it closed, for a key whose events come from one stream: (stream, newest
    # position seen, newest event time seen). A restarted instance judges a replay by the marks of stored rows
    # (`recover_from`'s bound): an event at a later position is late if it is late against that time.
    source: tuple[Hashable, int, int] | None = None


@dataclass(slots=True)
class Outcome:
    late: bool = False
    duplicate: bool = False  # every window already had this event id
    watermark: int = NO_WATERMARK
    closed: list[ClosedWindow] = field(default_factory=list)
    reemitted: list[ClosedWindow] = field(default_factory=list)  # closed windows a replay re-emits
    released: list[Hashable] = field(default_factory=list)  # tokens whose windows all closed: ack them
    stored: bool = False  # recovery: every window of this event is already in the store (a re-delivery)


@dataclass(slots=True)
class _Closed:
    at: float  # processing time of the (last) close
    window: _Window  # its state: reopenable while provisional; values dropped once final
    result: ClosedWindow
    final: bool  # the key's watermark passed its end: no on-time event can join it any more


@dataclass(slots=True)
class _KeyState:
    key: Key
    max_ts: int = NO_WATERMARK
    watermark: int = NO_WATERMARK
    last_seen: float = 0.0
    open: dict[WindowKey, _Window] = field(default_factory=dict)
    # emitted windows, oldest close first, kept `retain_closed_s` for re-deliveries (and reopening)
    closed: dict[WindowKey, _Closed] = field(default_factory=dict)
    provisional: int = 0  # closed windows not final yet
    # the earliest end of an open window (NO_END: none): a watermark below it closes nothing
    next_end: int = NO_END
    # Source order (events given a position): the stream, the newest position seen, and a staircase of
    # (position, largest event time at or before it) breakpoints, so an event that arrives behind newer ones
    # (a replay) is judged late against the events produced before it, not against everything that overtook it.
    stream: Any = None
    newest: int = -(2**63)
    offs: list[int] = field(default_factory=list)
    tops: list[int] = field(default_factory=list)
    floor_top: int = NO_WATERMARK  # the largest time of the breakpoints dropped from the staircase
    # the staircase's length that makes the next event trim it: twice what the last trim left, so a key whose
    # open windows still need every breakpoint (a long window) is not searched again on each of its events
    trim_at: int = STAIRCASE
    forgotten_end: int = NO_WATERMARK  # the latest end of this key's windows forgotten after closing


class WindowManager:
    def __init__(self, settings: WindowSettings, clock: Clock, retain_closed_s: float = 180.0) -> None:
        self.settings = settings
        self.clock = clock
        self._keys: OrderedDict[Key, _KeyState] = OrderedDict()  # live keys, least recently active first
        # evicted keys that still hold closed windows, oldest eviction first
        self._resting: OrderedDict[Key, _KeyState] = OrderedDict()
        # every retained closed window of every key (live or resting), oldest close first
        self._closed: OrderedDict[tuple[Key, WindowKey], _Closed] = OrderedDict()
        self._fences: list[int] | None = None  # forgotten keys' fences by hash slot (see the module doc)
        self._max_keys = settings.max_keys
        self._max_closed = settings.max_closed_windows
        self.evicted_keys = 0  # live keys evicted past max_keys (their open windows closed provisionally)
        self.forgotten_keys = 0  # resting keys forgotten (only their fence is left)
        self.forgotten_windows = 0  # closed windows forgotten past max_closed_windows, before their retention
        self._pending: dict[Hashable, int] = {}  # token -> open windows holding it
        # final windows amended by replays since the last `amended()` call, with the tokens that amended them
        self._amended: dict[tuple[Key, WindowKey], tuple[_Closed, list[Hashable]]] = {}
        self.amended_windows = 0  # emits of final windows amended by a replay on time in source order
        self._retain_s = retain_closed_s
        self._oracle: StoredOracle | None = None
        self._clear: ClearOracle | None = None
        self._bound: StoredBound | None = None
        self._recover_until = 0.0
        # Per definition: (definition, id, slide ms, length ms, tumbling). Windows are keyed (id, start): equal
        # definitions share an id (so share windows, as equal (definition, start) keys would) and an int pair
        # hashes in C, where a WindowDefinition's hash is Python code.
        # The ids follow WindowDefinition's order, so windows ending together close ordered by (end, id).
        ids = {d: i for i, d in enumerate(sorted(set(settings.definitions)))}
        self._definitions = tuple(
            (d, ids[d], d.slide_ms, d.length_ms, d.slide_ms == d.length_ms) for d in settings.definitions
        )
        self._lateness = settings.allowed_lateness_ms
        self._longest = max(d.length_ms for d in settings.definitions)

    def recover_from(
        self,
        oracle: StoredOracle,
        horizon_s: float,
        clear: ClearOracle | None = None,
        bound: StoredBound | None = None,
    ) -> None:
        """For `horizon_s` of processing time from now, ask `oracle(key, definition, window_start, metric)` about
        each (window, metric) a new window gets, before counting anything in it. A row the store holds was
        written whole when a previous instance closed the window, so the replayed events are not counted there
        again (a partial rebuild from a replayed tail would overwrite the complete row).

        `clear(key, ts, values)`, if given, is asked first for each event: True when the store certainly holds no
        row of those metrics for any window holding `ts` (e.g. `ts` is past the end of every stored window of
        the key), and the windows are then not asked about (an event newer than what a previous instance
        stored, which is most events of a recovery, costs one call instead of one question per window).

        `bound(key, position)`, if given, is the newest event time the stored rows show for events before
        `position` in its stream: an event with a position is late when it is late against it, though this
        instance never saw those events (they were acked and stored before it started; a replay that overtook
        the replays of the events just before it is thus still judged in source order)."""
        self._oracle = oracle
        self._clear = clear
        self._bound = bound
        self._recover_until = self.clock.now() + horizon_s

    def recovering(self) -> bool:
        """Within the `recover_from` horizon (a fresh instance that may see a previous one's replays)."""
        return self._oracle is not None and self.clock.now() < self._recover_until

    # --- input -------------------------------------------------------------------------------------------
    def add(
        self,
        key: Key,
        event_id: str,
        ts: int,
        values: Mapping[str, float],
        token: Hashable,
        position: Position | None = None,
    ) -> Outcome:
        """Count one event in its windows under `token`. With `position` (where the event sits in its source,
        see `Position`), an event that arrives behind newer events of its key is judged late by the events
        produced before it: a replay that is on time in source order joins its windows, and a window that
        already closed is amended (emitted again by `amended()`) while it is retained."""
        keys = self._keys
        state = keys.get(key)
        early: Outcome | None = None
        if state is None:
            state, early = self._admit(key)
        else:
            keys.move_to_end(key)
        now = self.clock.now()
        state.last_seen = now
        amend = False
        if ts < state.watermark:
            amend = position is not None and self._on_time_in_source(state, position, ts)
            if not amend:
                late = self._behind_watermark(state, event_id, ts, token)
                return late if early is None else _after(early, late)
        recovering = self._oracle is not None
        if recovering and position is not None and self._bound is not None and now < self._recover_until:
            missed = self._bound(key, position) - self._lateness
            if ts < missed:  # late among events a previous instance saw (and stored)
                late = self._behind_watermark(state, event_id, ts, token)
                if late.late:
                    late.watermark = max(missed, state.watermark)
                return late if early is None else _after(early, late)
        if recovering:
            clear = self._clear
            if clear is None or now >= self._recover_until or not clear(key, ts, values):
                self._ask_store(key, state, ts, values, now)
                recovering = self._oracle is not None
        added = held = skipped = 0
        open_windows = state.open
        reemitted: list[ClosedWindow] = []
        for definition, ident, slide, length, tumbling in self._definitions:
            if tumbling:
                first = ts - ts % slide
                starts: range | tuple[int] = (first,)
            else:
                starts = window_starts(ts, slide, length)
            for start in starts:
                wkey = (ident, start)
                window = open_windows.get(wkey)
                if window is None:
                    done = state.closed.get(wkey) if state.closed else None
                    if done is not None and event_id in _ids(done):
                        reemitted.append(done.result)  # a re-delivery after an (idle) close: re-emit
                        continue
                    if done is not None and done.final:  # only a replay on time in source order gets here
                        added += self._amend(key, wkey, done, event_id, values, token)
                        continue
                    if done is not None and not done.final:
                        # on time for a window an idle timeout closed early: reopen it; its next emit amends
                        del state.closed[wkey]
                        del self._closed[(key, wkey)]
                        state.provisional -= 1
                        window = done.window
                        window.tokens = []
                    elif recovering:  # a window `clear` spared asking about: a later event may need to ask
                        window = _Window(definition, start, start + length, ident, asked=set())
                    else:
                        window = _Window(definition, start, start + length, ident)
                    open_windows[wkey] = window
                    if window.end < state.next_end:
                        state.next_end = window.end
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
        outcome = Outcome(False, added == 0 and not stored, NO_WATERMARK, [], reemitted, [], stored)
        if added + held:
            pending = self._pending
            pending[token] = pending.get(token, 0) + added + held
        elif token not in self._pending:  # a held batch token is released by `unhold`
            outcome.released.append(token)
        if position is not None:
            stream, at = position
            if at > state.newest and stream == state.stream:  # in order: the common case, inline
                state.newest = at
                tops = state.tops
                if not tops or ts > tops[-1]:
                    state.offs.append(at)
                    tops.append(ts)
            else:
                self._record_position(state, position, ts)
        if amend:
            if state.next_end <= state.watermark:  # a window it opened is already due: emit it now
                self._close(key, state, state.watermark, outcome, now)
        elif ts > state.max_ts:
            state.max_ts = ts
            watermark = ts - self._lateness
            if watermark > state.watermark:
                # Only a moving watermark can make a window due (a window holding ts ends after it).
                state.watermark = watermark
                if watermark >= state.next_end:
                    self._close(key, state, watermark, outcome, now)
                else:  # what _close does when nothing is due
                    if state.provisional:
                        self._finalize(state, outcome)
                    self._prune(state, now)
        outcome.watermark = state.watermark
        return outcome if early is None else _after(early, outcome)

    # --- source order ------------------------------------------------------------------------------------
    def _on_time_in_source(self, state: _KeyState, position: Position, ts: int) -> bool:
        """An event behind the watermark that may still be on time: it sits before the key's newest position in
        the same stream, and no event produced before it (of those seen) is `allowed lateness` newer. It is
        placed only if every window it belongs to is open or retained, or was never opened (then it is opened
        and emitted at once; a recovering instance asks the store about it first, as for any new window); a
        window that was forgotten makes it late as before."""
        stream, at = position
        if stream != state.stream or at >= state.newest:
            return False
        i = bisect_left(state.offs, at)
        top = state.tops[i - 1] if i else state.floor_top
        if ts < top - self._lateness:
            return False
        forgotten = state.forgotten_end
        if forgotten == NO_WATERMARK:
            return True
        for _, ident, slide, length, _ in self._definitions:
            for start in window_starts(ts, slide, length):
                wkey = (ident, start)
                if start < forgotten and wkey not in state.open and wkey not in state.closed:
                    return False
        return True

    def _record_position(self, state: _KeyState, position: Position, ts: int) -> None:
        """Add a counted event to its key's staircase of (position, largest time so far)."""
        stream, at = position
        if stream != state.stream:
            if state.stream is None:
                state.stream = stream
            else:  # two streams feed this key: no order between them, judge by arrival from now on
                state.stream = _MIXED
                state.offs, state.tops = [], []
                return
        offs, tops = state.offs, state.tops
        if at > state.newest:
            state.newest = at
            if not tops or ts > tops[-1]:
                offs.append(at)
                tops.append(ts)
            return
        i = bisect_right(offs, at)
        if i and tops[i - 1] >= ts:
            return  # earlier events were already as new
        offs.insert(i, at)
        tops.insert(i, ts)
        for j in range(i + 1, len(tops)):
            if tops[j] >= ts:
                break
            tops[j] = ts

    def _trim_staircase(self, state: _KeyState) -> None:
        """Drop the breakpoints older than every window the key still has: an event behind them belongs only to
        windows that are gone, so it is late whatever they say (`floor_top` keeps their largest time)."""
        tops = state.tops
        floor = min((w.start for w in state.open.values()), default=NO_END)
        if state.closed:  # oldest close first: no retained window starts a whole window length before it
            floor = min(floor, next(iter(state.closed.values())).window.start - self._longest)
        cut = bisect_left(tops, floor)
        if cut > len(tops) - STAIRCASE // 2:
            cut = len(tops) - STAIRCASE // 2  # keep the newest half whatever the windows
        if cut > 0:
            state.floor_top = max(state.floor_top, tops[cut - 1])
            del state.offs[:cut], tops[:cut]

    def _amend(
        self,
        key: Key,
        wkey: WindowKey,
        done: _Closed,
        event_id: str,
        values: Mapping[str, float],
        token: Hashable,
    ) -> int:
        """Count a replay on time in source order in a final window that closed without it (1 if counted)."""
        window = done.window
        counted = values
        if window.stored:
            counted = {m: v for m, v in values.items() if m not in window.stored}
            if not counted:
                return 0
        if window.event_ids is _NO_IDS:
            window.event_ids = set(done.result.event_ids)
        window.event_ids.add(event_id)
        metrics = window.metrics
        for metric, value in counted.items():
            series = metrics.get(metric)
            if series is None:
                metrics[metric] = [value]
            else:
                series.append(value)
        entry = self._amended.get((key, wkey))
        if entry is None:
            entry = self._amended[(key, wkey)] = (done, [])
        entry[1].append(token)  # held like an open window's token (counted in `add`), released by `amended()`
        return 1

    def amended(self) -> Outcome | None:
        """The final windows replays amended since the last call, emitted again (`closed`, anchored to the
        amending tokens) and the tokens that releases; None when there are none. Call it once per input tuple,
        before `unhold`."""
        if not self._amended:
            return None
        outcome = Outcome()
        accuracy = self.settings.relative_accuracy
        pending = self._pending
        for (key, _), (done, tokens) in self._amended.items():
            window = done.window
            result = ClosedWindow(
                key,
                window.definition,
                window.start,
                window.end,
                {m: summarize(v, accuracy) for m, v in sorted(window.metrics.items())},
                tuple(tokens),
                frozenset(window.event_ids),
                None,
                window.drafted,
                _mark(self._keys.get(key) or self._resting.get(key)),
            )
            done.result = result
            window.event_ids = _NO_IDS
            outcome.closed.append(result)
            for token in tokens:
                left = pending[token] - 1
                if left:
                    pending[token] = left
                else:
                    del pending[token]
                    outcome.released.append(token)
        self.amended_windows += len(self._amended)
        self._amended.clear()
        return outcome

    # --- bounds ------------------------------------------------------------------------------------------
    def _admit(self, key: Key) -> tuple[_KeyState, Outcome | None]:
        """A key that is not live: evict the least recently active live key if the limit is reached, then revive
        the key if it rests, or start it with its fence as watermark."""
        early = None
        keys = self._keys
        state = self._resting.pop(key, None)
        if state is None:
            fences = self._fences
            fence = NO_WATERMARK if fences is None else fences[hash(key) % FENCES]
            state = _KeyState(key, watermark=fence)
        keys[key] = state  # live before the eviction, which may forget resting keys and closed windows
        if len(keys) > self._max_keys:
            early = Outcome()
            self._evict(*keys.popitem(last=False), early)
        return state, early

    def _evict(self, key: Key, state: _KeyState, outcome: Outcome) -> None:
        """A live key past max_keys: close its open windows as an idle timeout would (provisionally), then rest."""
        self.evicted_keys += 1
        resting = self._resting
        resting[key] = state  # first: closing may forget old closed windows, this key's among them
        if state.open:
            self._close(key, state, None, outcome, self.clock.now())
        if resting.get(key) is state and not state.closed:
            del resting[key]
            self._forget_key(state)
        if len(resting) > self._max_keys:
            self._forget_key(resting.popitem(last=False)[1])

    def _forget_key(self, state: _KeyState) -> None:
        """Forget a key that has no open window: only its fence is left (see the module doc)."""
        self.forgotten_keys += 1
        fence = state.watermark
        closed = self._closed
        for wkey, done in state.closed.items():
            fence = max(fence, done.window.end)
            del closed[(state.key, wkey)]
        state.closed = {}
        fences = self._fences
        if fences is None:
            fences = self._fences = [NO_WATERMARK] * FENCES
        slot = hash(state.key) % FENCES
        if fence > fences[slot]:
            fences[slot] = fence

    def _forget_oldest_closed(self) -> None:
        """Past max_closed_windows: forget the oldest closed windows as if their retention had passed."""
        closed = self._closed
        while len(closed) > self._max_closed:
            (key, wkey), done = closed.popitem(last=False)
            self.forgotten_windows += 1
            state = self._keys.get(key)
            is_resting = state is None
            if state is None:
                state = self._resting[key]
            del state.closed[wkey]
            state.forgotten_end = max(state.forgotten_end, done.window.end)
            if not done.final:
                state.provisional -= 1
                state.watermark = max(state.watermark, done.window.end)
            if is_resting and not state.closed:
                del self._resting[key]
                self._forget_key(state)

    def _ask_store(
        self, key: Key, state: _KeyState, ts: int, values: Mapping[str, float], now: float
    ) -> None:
        """Recovery: learn which (window, metric) rows of this event the store holds, before anything is counted
        (if the oracle raises, no window has counted the event). Windows opened after the horizon ask nothing."""
        oracle = self._oracle
        if oracle is None or now >= self._recover_until:
            self._oracle = None
            return
        for definition, ident, slide, length, _ in self._definitions:
            for start in window_starts(ts, slide, length):
                wkey = (ident, start)
                window = state.open.get(wkey)
                if window is None:
                    if wkey in state.closed:
                        continue  # this instance emitted it: never ask the store about its own windows
                    window = state.open[wkey] = _Window(definition, start, start + length, ident, asked=set())
                    if window.end < state.next_end:
                        state.next_end = window.end
                if window.asked is None:
                    continue  # opened before recover_from: this instance saw it from its start
                for metric in values:
                    if metric not in window.asked:
                        found = oracle(key, definition, start, metric)
                        if found is True:
                            if window.stored is None:
                                window.stored = set()
                            window.stored.add(metric)
                        elif found:  # a provisional row: go on from its draft instead of trusting it
                            ids, drafted = found
                            window.event_ids.update(ids)
                            if drafted:
                                series = window.metrics.get(metric)
                                window.metrics[metric] = [*drafted, *series] if series else list(drafted)
                            window.drafted = True
                        window.asked.add(metric)

    def _behind_watermark(self, state: _KeyState, event_id: str, ts: int, token: Hashable) -> Outcome:
        """An event older than the watermark. A re-delivery of an event already counted is not late: closed
        windows that counted it are re-emitted (a downstream write failed), open windows that counted it hold
        the new delivery until they close. Otherwise the event is late (in no window)."""
        again = [
            c.result
            for c in state.closed.values()
            if c.window.start <= ts < c.window.end and event_id in _ids(c)
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
            self._prune(state, now)
        resting = self._resting
        if resting:
            for state in list(resting.values()):
                self._prune(state, now)
                if not state.closed:
                    del resting[state.key]
                    self._forget_key(state)
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
        self._close(key, state, None, outcome, self.clock.now())

    # --- closing -----------------------------------------------------------------------------------------
    def _close(self, key: Key, state: _KeyState, watermark: int | None, outcome: Outcome, now: float) -> None:
        """Close the windows ending at or before `watermark` (None: all open windows)."""
        open_windows = state.open
        if watermark is None:
            due = list(open_windows.values())
            state.next_end = NO_END
        else:
            due = []
            next_end = NO_END
            for w in open_windows.values():
                if w.end <= watermark:
                    due.append(w)
                elif w.end < next_end:
                    next_end = w.end
            state.next_end = next_end
            if state.provisional:
                self._finalize(state, outcome)
        if due:
            if len(due) > 1:
                due.sort(key=lambda w: (w.end, w.rank))
            accuracy = self.settings.relative_accuracy
            pending = self._pending
            released = outcome.released
            retained = self._closed
            watermark_now = state.watermark
            max_draft = self.settings.max_draft_events
            mark = _mark(state)
            for window in due:
                wkey = (window.rank, window.start)
                del open_windows[wkey]
                final = window.end <= watermark_now
                if final:
                    draft = None
                    clears = window.drafted
                elif len(window.event_ids) <= max_draft:
                    # provisional: the row carries what a fresh instance needs to go on from it
                    draft = {m: list(v) for m, v in window.metrics.items()}
                    clears = False
                    window.drafted = True
                else:  # too many events for a draft: the row is stored as complete (docs/pipeline.md, Restarts)
                    draft = None
                    clears = window.drafted
                    window.drafted = False
                closed = ClosedWindow(
                    key,
                    window.definition,
                    window.start,
                    window.end,
                    {m: summarize(v, accuracy) for m, v in sorted(window.metrics.items())},
                    tuple(window.tokens),
                    frozenset(window.event_ids),
                    draft,
                    clears,
                    mark,
                )
                outcome.closed.append(closed)
                if not final:
                    state.provisional += 1
                state.closed[wkey] = retained[(key, wkey)] = _Closed(now, window, closed, final)
                for token in window.tokens:
                    left = pending[token] - 1
                    if left:
                        pending[token] = left
                    else:
                        del pending[token]
                        released.append(token)
                if final:
                    _drop_values(window, state)
            if len(retained) > self._max_closed:
                self._prune(state, now)
                self._forget_oldest_closed()
                return
        self._prune(state, now)

    def _finalize(self, state: _KeyState, outcome: Outcome) -> None:
        """Provisional windows the watermark has now passed are final (drop their values). A row stored with a
        draft is written again without it (in `outcome.reemitted`, anchored to the tuple that moved the
        watermark), so a fresh instance never goes on from a window that is already final."""
        for done in state.closed.values():
            if not done.final and done.window.end <= state.watermark:
                done.final = True
                if done.window.drafted:
                    done.result = replace(done.result, draft=None, clears_draft=True)
                    outcome.reemitted.append(done.result)
                _drop_values(done.window, state)
                state.provisional -= 1

    def _prune(self, state: _KeyState, now: float) -> None:
        if len(state.tops) > state.trim_at:
            self._trim_staircase(state)
            state.trim_at = max(STAIRCASE, 2 * len(state.tops))
        closed = state.closed
        if not closed:
            return
        horizon = now - self._retain_s
        if next(iter(closed.values())).at >= horizon:
            return  # oldest first: nothing to forget yet
        retained = self._closed
        key = state.key
        for k in [k for k, c in closed.items() if c.at < horizon]:
            done = closed.pop(k)
            del retained[(key, k)]
            state.forgotten_end = max(state.forgotten_end, done.window.end)
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
        if state is None:
            state = self._resting.get(key)
        if state is not None:
            return state.watermark
        return NO_WATERMARK if self._fences is None else self._fences[hash(key) % FENCES]

    def stats(self) -> dict[str, Any]:
        return {
            "keys": len(self._keys),
            "resting_keys": len(self._resting),
            "open_windows": self.open_windows(),
            "closed_windows": len(self._closed),
            "pending_tuples": self.pending_tokens(),
            "evicted_keys": self.evicted_keys,
            "forgotten_keys": self.forgotten_keys,
            "forgotten_windows": self.forgotten_windows,
            "amended_windows": self.amended_windows,
        }


def _drop_values(window: _Window, state: _KeyState) -> None:
    """A final window is not reopened (a replay on time in source order amends it in place): a re-delivery is
    recognised by its result's ids, so its own ids and tokens are dropped. Its values are kept only for a key in
    source order, whose replays may amend it."""
    if state.stream is None or state.stream is _MIXED:
        window.metrics = {}
    window.event_ids = _NO_IDS
    window.tokens = []


def _mark(state: _KeyState | None) -> tuple[Hashable, int, int] | None:
    """The key's source-order mark (see ClosedWindow.source): an event at a position up to `newest` of its one
    stream had the time `max_ts`."""
    if state is None or state.stream is None or state.stream is _MIXED or state.max_ts == NO_WATERMARK:
        return None
    return (state.stream, state.newest, state.max_ts)


def _ids(done: _Closed) -> set[str] | frozenset[str]:
    """The event ids a closed window counted (its own set while a replay amends it)."""
    ids = done.window.event_ids
    return done.result.event_ids if ids is _NO_IDS else ids


def _after(early: Outcome, outcome: Outcome) -> Outcome:
    """`outcome` with what an eviction before it closed and released put first."""
    outcome.closed[:0] = early.closed
    outcome.released[:0] = early.released
    return outcome
