"""WindowedBolt: the Storm glue around WindowManager (as Storm's WindowedBoltExecutor wraps its WindowManager).

A subclass says how to read a tuple (`extract`) and what to emit for a closed window (`emit_window`); the base
does the rest:
- input tuples are NOT acked on arrival; each is acked once every window it belongs to has been emitted, and
  those emits are anchored to all the window's tuples (so a failed write downstream replays them);
- late tuples go to the `late` stream (anchored), then are acked; duplicates inside a window are acked at once;
- tick tuples (`topology.tick.tuple.freq.secs`, set in the component's config) drive the idle timeout: an idle
  key's windows close after `pipeline.windows.idle_timeout_s` on the injected clock. `squall run --until-idle`
  keeps delivering ticks while it waits for pending trees, so a bounded run flushes every window before it stops;
- at start, `topology.message.timeout.secs` is checked against window length + lateness + idle + tick.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Mapping
from typing import Any

from streamparse import Bolt

from squall.clock import Clock, SystemClock
from squall.pipeline.settings import from_conf, section
from squall.windowing.definitions import WindowSettings, parse_window_settings, validate_message_timeout
from squall.windowing.manager import ClosedWindow, Key, Outcome, WindowManager

log = logging.getLogger(__name__)
STORM_DEFAULT_MESSAGE_TIMEOUT_S = 30
TICK_KEY = "topology.tick.tuple.freq.secs"


class WindowedBolt(Bolt):  # type: ignore[misc]
    auto_ack = False
    auto_anchor = False
    auto_fail = True
    clock: Clock = SystemClock()  # tests replace it with a ManualClock

    def initialize(self, storm_conf: Mapping[str, Any], context: Mapping[str, Any]) -> None:
        settings = from_conf(storm_conf)
        self.window_settings: WindowSettings = parse_window_settings(section(settings, "windows"))
        timeout = int(storm_conf.get("topology.message.timeout.secs", STORM_DEFAULT_MESSAGE_TIMEOUT_S))
        tick = storm_conf.get(TICK_KEY)
        if tick is None:
            log.warning(
                "%s is not set for this bolt: idle windows will only close when new events arrive", TICK_KEY
            )
        validate_message_timeout(self.window_settings, timeout, float(tick or 0))
        self.windows = WindowManager(self.window_settings, self.clock, retain_closed_s=2.0 * timeout)
        self.counts = {
            "events": 0,
            "late": 0,
            "duplicates": 0,
            "windows": 0,
            "reemitted": 0,
            "already_stored": 0,  # re-deliveries after a restart whose windows the store holds (recover_from)
        }
        self.setup(settings, storm_conf, context)

    # --- for subclasses ----------------------------------------------------------------------------------
    def setup(
        self, settings: Mapping[str, Any], storm_conf: Mapping[str, Any], context: Mapping[str, Any]
    ) -> None:
        """Read the subclass's own settings."""

    def extract(self, tup: Any) -> tuple[Key, str, int, Mapping[str, float]]:
        """(key, event_id, event time ms, metric values) of an input tuple."""
        raise NotImplementedError

    def emit_window(self, window: ClosedWindow, anchors: list[Hashable]) -> None:
        raise NotImplementedError

    def emit_late(self, tup: Any, watermark: int) -> None:
        """Default: re-emit the input values plus the watermark on the `late` stream."""
        self.emit([*tup.values, watermark], stream="late", anchors=[tup.id])

    # --- engine glue -------------------------------------------------------------------------------------
    def process(self, tup: Any) -> None:
        key, event_id, ts, values = self.extract(tup)
        outcome = self.windows.add(key, event_id, ts, values, tup.id)
        self.counts["events"] += 1
        if outcome.late:
            self.counts["late"] += 1
            self.emit_late(tup, outcome.watermark)
        elif outcome.duplicate:
            self.counts["duplicates"] += 1
        elif outcome.stored:
            self.counts["already_stored"] += 1
        for window in outcome.reemitted:
            self.counts["reemitted"] += 1
            self.emit_window(window, [tup.id])
        self._finish(outcome)

    def process_tick(self, tup: Any) -> None:
        self._finish(self.windows.on_tick())
        self.ack(tup)  # Storm ignores acks of tick tuples; a runner that tracks every delivery sees it done

    def _finish(self, outcome: Outcome) -> None:
        for window in outcome.closed:
            self.counts["windows"] += 1
            self.emit_window(window, list(window.tokens))
        for token in outcome.released:
            self.ack(token)
