"""WindowedBolt: the Storm glue around WindowManager (as Storm's WindowedBoltExecutor wraps its WindowManager).

A subclass says how to read the events of a tuple (`extract`: a tuple may carry one event or a batch) and what
to emit for closed windows (`emit_windows`); the base does the rest:
- input tuples are NOT acked on arrival; each is acked once every window any of its events belongs to has been
  emitted, and those emits are anchored to all the windows' tuples (so a failed write downstream replays them);
- late events go to the `late` stream (anchored to their tuple); duplicates inside a window count once;
- tick tuples (`topology.tick.tuple.freq.secs`, set in the component's config) drive the idle timeout: an idle
  key's windows close after `pipeline.windows.idle_timeout_s` on the injected clock. `squall run --until-idle`
  keeps delivering ticks while it waits for pending trees, so a bounded run flushes every window before it stops;
- at start, `topology.message.timeout.secs` is checked against window length + lateness + idle + tick;
- state is bounded by `pipeline.windows.max_keys` and `max_closed_windows`; evictions are in `counts`.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Iterable, Mapping
from typing import Any

from streamparse import Bolt

from squall.clock import Clock, SystemClock
from squall.pipeline.settings import PipelineSettings, from_conf
from squall.windowing.definitions import WindowSettings, validate_message_timeout
from squall.windowing.manager import ClosedWindow, Key, Outcome, Position, WindowManager

log = logging.getLogger(__name__)
STORM_DEFAULT_MESSAGE_TIMEOUT_S = 30
TICK_KEY = "topology.tick.tuple.freq.secs"
# What `extract` yields per event: (key, event id, event time ms, metric values, item[, source position])
Extracted = (
    tuple[Key, str, int, Mapping[str, float], Any]
    | tuple[Key, str, int, Mapping[str, float], Any, Position | None]
)


class WindowedBolt(Bolt):
    auto_ack = False
    auto_anchor = False
    auto_fail = True
    clock: Clock = SystemClock()  # tests replace it with a ManualClock

    def initialize(self, storm_conf: Mapping[str, Any], context: Mapping[str, Any]) -> None:
        settings = from_conf(storm_conf)
        self.window_settings: WindowSettings = settings.windows
        timeout = int(storm_conf.get("topology.message.timeout.secs", STORM_DEFAULT_MESSAGE_TIMEOUT_S))
        tick = storm_conf.get(TICK_KEY)
        if tick is None:
            log.warning(
                "%s is not set for this bolt: idle windows will only close when new events arrive", TICK_KEY
            )
        validate_message_timeout(self.window_settings, timeout, float(tick or 0))
        self.windows = WindowManager(
            self.window_settings, self.clock, retain_closed_s=self.window_settings.replay_horizon(timeout)
        )
        self.counts = {
            "events": 0,
            "late": 0,
            "duplicates": 0,
            "windows": 0,
            "reemitted": 0,
            "amended": 0,  # closed windows emitted again with replays that are on time in source order
            "already_stored": 0,  # re-deliveries after a restart whose windows the store holds (recover_from)
            "late_before_restart": 0,  # replays a previous instance had dead-lettered as late
            "errors": 0,  # events whose handling raised (event_failed)
            # past pipeline.windows.max_keys / max_closed_windows (the manager's counters, copied per tuple)
            "evicted_keys": 0,  # least recently active devices whose open windows closed early (provisionally)
            "forgotten_keys": 0,  # evicted devices forgotten: their events for windows already emitted are late
            "forgotten_windows": 0,  # closed windows forgotten before their retention (re-deliveries are late)
        }
        self.setup(settings, storm_conf, context)

    # --- for subclasses ----------------------------------------------------------------------------------
    def setup(
        self, settings: PipelineSettings, storm_conf: Mapping[str, Any], context: Mapping[str, Any]
    ) -> None:
        """Read the subclass's own settings."""

    def extract(self, tup: Any) -> Iterable[Extracted]:
        """The events of an input tuple, in order: (key, event_id, event time ms, metric values, item), where
        `item` is what `emit_late` gets back for a late event. A sixth element, where the event sits in its
        source (`(stream, position)`, e.g. `((topic, partition), offset)`), lets a replay that arrives behind
        newer events be judged by the events produced before it (see WindowManager.add)."""
        raise NotImplementedError

    def emit_windows(self, windows: list[ClosedWindow], anchors: list[Hashable]) -> None:
        """Emit the results of `windows` (one or more tuples), anchored to `anchors`."""
        raise NotImplementedError

    def previously_late(self, item: Any) -> bool:
        """Recovery: whether a previous instance already decided this event was late (asked only while the
        window manager is recovering). Default: never."""
        return False

    def emit_late(self, tup: Any, item: Any, watermark: int) -> None:
        """Default: the item plus the watermark on the `late` stream, anchored to its tuple."""
        self.emit([item, watermark], stream="late", anchors=[tup.id])

    def end_of_tuple(self, tup: Any) -> None:
        """Every event of `tup` was handled, nothing is acked yet: emit what was gathered for it (e.g. its late
        events as one tuple). Default: nothing."""

    def event_failed(self, tup: Any, item: Any, exc: Exception) -> None:
        """Adding one event of `tup` to the windows raised `exc`. Default: raise it (the tuple fails and is
        replayed, as in Storm). A subclass that dead-letters the event instead lets its batch-mates go on."""
        raise exc

    # --- engine glue -------------------------------------------------------------------------------------
    def process(self, tup: Any) -> None:
        token, windows, counts = tup.id, self.windows, self.counts
        closed: list[ClosedWindow] = []
        anchors: dict[Hashable, None] = {}  # ordered set
        released: list[Hashable] = []
        windows.hold(token)
        recovering = windows.recovering()
        add = windows.add
        position: Position | None
        events = 0  # added to counts["events"] once per tuple
        try:
            for extracted in self.extract(tup):
                # unpacked by length rather than with a starred target, which builds a list per event
                if len(extracted) == 6:
                    key, event_id, ts, values, item, position = extracted
                else:
                    key, event_id, ts, values, item = extracted
                    position = None
                try:
                    if recovering and self.previously_late(item):
                        # A replay of an event a previous instance dead-lettered as late: this instance's watermark
                        # is rebuilt from the replayed tail only and could take it for on time; keep the decision.
                        events += 1
                        counts["late"] += 1
                        counts["late_before_restart"] += 1
                        self.emit_late(tup, item, windows.watermark(key))
                        continue
                    outcome = add(key, event_id, ts, values, token, position)
                except Exception as exc:  # noqa: BLE001 - the subclass decides: fail the tuple or dead-letter
                    counts["errors"] += 1
                    self.event_failed(tup, item, exc)
                    continue
                events += 1
                if outcome.late:
                    counts["late"] += 1
                    self.emit_late(tup, item, outcome.watermark)
                elif outcome.duplicate:
                    counts["duplicates"] += 1
                elif outcome.stored:
                    counts["already_stored"] += 1
                if outcome.reemitted:
                    # A replay of events whose windows closed (their write failed): re-emit, anchored to this tuple
                    # (the windows' original tuples may be acked already).
                    counts["reemitted"] += len(outcome.reemitted)
                    closed.extend(outcome.reemitted)
                    anchors[token] = None
                if outcome.closed or outcome.released:  # most events close and release nothing
                    self._collect(outcome, closed, anchors, released)
        finally:
            counts["events"] += events
        amended = windows.amended()
        if amended is not None:  # replays on time in source order amended windows that had closed
            counts["amended"] += len(amended.closed)
            self._collect(amended, closed, anchors, released)
        if windows.unhold(token):
            released.append(token)
        self.end_of_tuple(tup)
        self._emit(closed, anchors, released)

    def process_tick(self, tup: Any) -> None:
        closed: list[ClosedWindow] = []
        anchors: dict[Hashable, None] = {}
        released: list[Hashable] = []
        self._collect(self.windows.on_tick(), closed, anchors, released)
        self._emit(closed, anchors, released)
        self.ack(tup)  # Storm ignores acks of tick tuples; a runner that tracks every delivery sees it done

    def _collect(
        self,
        outcome: Outcome,
        closed: list[ClosedWindow],
        anchors: dict[Hashable, None],
        released: list[Hashable],
    ) -> None:
        self.counts["windows"] += len(outcome.closed)
        for window in outcome.closed:
            closed.append(window)
            anchors.update(dict.fromkeys(window.tokens))
        released.extend(outcome.released)

    def _emit(
        self, closed: list[ClosedWindow], anchors: dict[Hashable, None], released: list[Hashable]
    ) -> None:
        """Emit closed windows before acking the tuples they release (so the acks cannot complete a tree the
        window output still needs to join)."""
        windows, counts = self.windows, self.counts
        counts["evicted_keys"] = windows.evicted_keys
        counts["forgotten_keys"] = windows.forgotten_keys
        counts["forgotten_windows"] = windows.forgotten_windows
        if closed:
            self.emit_windows(closed, list(anchors))
        for token in released:
            self.ack(token)
