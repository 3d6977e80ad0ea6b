"""What a window is, apart from how windows are computed (as Storm keeps BaseWindowedBolt apart from its engine).

config.json `pipeline.windows`:

    "windows": {
      "definitions": [{"type": "tumbling", "length_s": 10}, {"type": "sliding", "length_s": 60, "slide_s": 10}],
      "allowed_lateness_s": 5,
      "idle_timeout_s": 2,
      "sketch_relative_accuracy": 0.01,
      "max_keys": 100000,
      "max_closed_windows": 200000,
      "max_draft_events": 10000,
      "replay_horizon_s": null
    }

`max_keys` bounds the (tenant, device) pairs whose state (watermark, open windows) is kept and
`max_closed_windows` the emitted windows kept for re-deliveries; docs/pipeline.md says what happens past them.
`max_draft_events` bounds the draft a window closed early stores beside its row (squall.windowing.drafts): a
window that counted more events stores none, and a restarted task takes its row for complete.
`replay_horizon_s` is how long a replay may come after a window closed or a task started (closed windows are kept,
and a restarted task asks the store, for that long); null: 4 x `topology.message.timeout.secs`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from squall import checks
from squall.errors import ConfigError

SECTION = "pipeline.windows"
KEYS = (
    "definitions",
    "allowed_lateness_s",
    "idle_timeout_s",
    "sketch_relative_accuracy",
    "max_keys",
    "max_closed_windows",
    "max_draft_events",
    "replay_horizon_s",
)
DEFINITION_KEYS = ("type", "length_s", "slide_s")
DEFAULT_MAX_KEYS = 100_000
DEFAULT_MAX_CLOSED_WINDOWS = 200_000
DEFAULT_MAX_DRAFT_EVENTS = 10_000  # a draft of about 60 bytes an event: at most ~600 KB beside one row
REPLAY_TIMEOUTS = 4  # default replay horizon, in message timeouts
MAX_SECONDS = 366 * 86_400  # a year: longer windows, lateness or idle timeouts are certainly a unit mistake
DEFAULT_DEFINITIONS: list[dict[str, Any]] = [
    {"type": "tumbling", "length_s": 10},
    {"type": "tumbling", "length_s": 60},
]


@dataclass(frozen=True, order=True)
class WindowDefinition:
    """A window of `length_s` seconds starting every `slide_s` seconds (tumbling when they are equal)."""

    length_s: int
    slide_s: int

    @property
    def length_ms(self) -> int:
        return self.length_s * 1000

    @property
    def slide_ms(self) -> int:
        return self.slide_s * 1000

    @property
    def tumbling(self) -> bool:
        return self.length_s == self.slide_s

    def describe(self) -> str:
        return (
            f"tumbling {self.length_s}s"
            if self.tumbling
            else f"sliding {self.length_s}s every {self.slide_s}s"
        )


def tumbling(length_s: int) -> WindowDefinition:
    return WindowDefinition(length_s, length_s)


def sliding(length_s: int, slide_s: int) -> WindowDefinition:
    return WindowDefinition(length_s, slide_s)


@dataclass(frozen=True)
class WindowSettings:
    definitions: tuple[WindowDefinition, ...]
    allowed_lateness_ms: int
    idle_timeout_s: float
    relative_accuracy: float = 0.01
    # keys (tenant, device_id) with state, the least recently active evicted past it; emitted windows retained,
    # the oldest forgotten past it
    max_keys: int = DEFAULT_MAX_KEYS
    max_closed_windows: int = DEFAULT_MAX_CLOSED_WINDOWS
    # events a window closed early may have counted and still store a draft of them (0: no drafts)
    max_draft_events: int = DEFAULT_MAX_DRAFT_EVENTS
    # seconds of processing time a replay may come after a close or a start (None: REPLAY_TIMEOUTS x the
    # topology's message timeout)
    replay_horizon_s: float | None = None

    def replay_horizon(self, message_timeout_s: float) -> float:
        """Closed windows are kept, and a restarted task asks the store, this long: a tuple lost with a worker
        fails after the message timeout, and its replay can be lost again while the worker's replacement starts."""
        if self.replay_horizon_s is not None:
            return self.replay_horizon_s
        return REPLAY_TIMEOUTS * message_timeout_s

    @property
    def max_length_s(self) -> int:
        return max(d.length_s for d in self.definitions)


def _positive_int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_SECONDS:
        raise ConfigError(
            where, f"{value!r} is not a whole number of seconds in 1..{MAX_SECONDS}", "use an integer like 10"
        )
    return value


def parse_window_settings(section: Mapping[str, Any] | None) -> WindowSettings:
    """Validate `pipeline.windows`; errors name the key, the value and the fix."""
    section = checks.obj(section, SECTION)
    checks.check_keys(section, KEYS, SECTION)
    raw_defs = section.get("definitions", DEFAULT_DEFINITIONS)
    if not isinstance(raw_defs, list) or not raw_defs:
        raise ConfigError(
            f"{SECTION}.definitions",
            f"{raw_defs!r} is not a non-empty list of windows",
            'write [{"type": "tumbling", "length_s": 10}]',
        )
    defs: list[WindowDefinition] = []
    for i, raw in enumerate(raw_defs):
        where = f"{SECTION}.definitions[{i}]"
        if not isinstance(raw, Mapping):
            raise ConfigError(
                where, f"{raw!r} is not an object", 'write {"type": "tumbling", "length_s": 10}'
            )
        checks.check_keys(raw, DEFINITION_KEYS, where)
        kind = raw.get("type", "tumbling")
        length = _positive_int(raw.get("length_s"), f"{where}.length_s")
        if kind == "tumbling":
            definition = tumbling(length)
        elif kind == "sliding":
            slide = _positive_int(raw.get("slide_s"), f"{where}.slide_s")
            if slide > length or length % slide:
                raise ConfigError(
                    f"{where}.slide_s", f"{slide} must divide length_s {length}", "e.g. 60 and 10"
                )
            definition = sliding(length, slide)
        else:
            raise ConfigError(f"{where}.type", f"{kind!r} is not a window type", "use tumbling or sliding")
        if definition in defs:
            raise ConfigError(where, f"{definition.describe()} is defined twice", "remove the duplicate")
        defs.append(definition)
    lateness = checks.number(
        section.get("allowed_lateness_s", 5), f"{SECTION}.allowed_lateness_s", 0, MAX_SECONDS, unit="seconds"
    )
    idle = checks.number(
        section.get("idle_timeout_s", 2),
        f"{SECTION}.idle_timeout_s",
        0,
        MAX_SECONDS,
        lo_open=True,
        unit="seconds",
    )
    accuracy = checks.number(
        section.get("sketch_relative_accuracy", 0.01),
        f"{SECTION}.sketch_relative_accuracy",
        0,
        1,
        lo_open=True,
        hi_open=True,
        unit="a fraction, e.g. 0.01,",
    )
    return WindowSettings(
        tuple(defs),
        int(lateness * 1000),
        idle,
        accuracy,
        max_keys=checks.integer(section.get("max_keys", DEFAULT_MAX_KEYS), f"{SECTION}.max_keys", 1),
        max_closed_windows=checks.integer(
            section.get("max_closed_windows", DEFAULT_MAX_CLOSED_WINDOWS), f"{SECTION}.max_closed_windows", 1
        ),
        max_draft_events=checks.integer(
            section.get("max_draft_events", DEFAULT_MAX_DRAFT_EVENTS), f"{SECTION}.max_draft_events", 0
        ),
        replay_horizon_s=None
        if section.get("replay_horizon_s") is None
        else checks.number(
            section["replay_horizon_s"], f"{SECTION}.replay_horizon_s", 1, MAX_SECONDS, unit="seconds"
        ),
    )


def validate_message_timeout(settings: WindowSettings, message_timeout_s: int, tick_freq_s: float) -> None:
    """Tuples are acked only when their windows close, so they must not time out before (Storm's
    WindowedBoltExecutor makes the same check). With a real-time feed a tuple waits at most the longest window,
    plus the allowed lateness, plus (if its device then goes quiet) the idle timeout and one tick."""
    hold = settings.max_length_s + settings.allowed_lateness_ms / 1000 + settings.idle_timeout_s + tick_freq_s
    if hold >= message_timeout_s:
        raise ConfigError(
            "topology.message.timeout.secs",
            f"{message_timeout_s}s is not more than the longest window {settings.max_length_s}s + allowed lateness "
            f"{settings.allowed_lateness_ms / 1000:g}s + idle timeout {settings.idle_timeout_s:g}s + tick "
            f"{tick_freq_s:g}s = {hold:g}s, so tuples would time out and replay while their window is open",
            f"set topology.message.timeout.secs > {hold:g} (envs.<env>.options) or shorten pipeline.windows",
        )


def validate_spout_pending(
    settings: WindowSettings, max_pending: int | None, events_per_s: float, spout_tasks: int
) -> None:
    """Tuples wait in their windows until the watermark passes, so each spout task must be allowed to have
    every event of (longest window + allowed lateness) of event time pending; with fewer, the spout stops,
    keys look idle, the idle timeout closes windows early and the following events are counted as late."""
    if max_pending is None:
        return
    span_s = settings.max_length_s + settings.allowed_lateness_ms / 1000
    needed = int(events_per_s * span_s / max(1, spout_tasks)) + 1
    if max_pending < needed:
        raise ConfigError(
            "topology.max.spout.pending",
            f"{max_pending} is below the {needed} events per spout task that arrive in the longest window + "
            f"allowed lateness ({span_s:g}s at {events_per_s:g} events/s), so windows could not close",
            f"set topology.max.spout.pending >= {needed} (envs.<env>.options) or lower the event rate",
        )


def hold_span_s(settings: WindowSettings) -> float:
    """Event time a tuple can be held in its windows: the longest window plus the allowed lateness."""
    return settings.max_length_s + settings.allowed_lateness_ms / 1000


def validate_uncommitted(
    settings: WindowSettings, max_uncommitted: int, events_per_s: float, partitions: int
) -> None:
    """The Kafka source pauses a partition holding `max_uncommitted` emitted-but-unacked offsets. Its tuples are
    acked only when their windows close, so a partition must hold (longest window + lateness) of its events;
    with fewer it pauses, its devices get nothing for `idle_timeout_s`, their windows close early and the
    events that follow are counted as late (dead-lettered, never lost, but the aggregates are then short)."""
    span_s = hold_span_s(settings)
    needed = int(events_per_s * span_s / max(1, partitions)) + 1
    if max_uncommitted < needed:
        raise ConfigError(
            "pipeline.kafka.max_uncommitted",
            f"{max_uncommitted} is below the {needed} events per partition that arrive in the longest window + "
            f"allowed lateness ({span_s:g}s at {events_per_s:g} events/s over {partitions} partitions), so "
            f"partitions would pause, devices look idle after {settings.idle_timeout_s:g}s and windows close early",
            f"set pipeline.kafka.max_uncommitted >= {needed}, or lower pipeline.peak_events_per_s",
        )


def hold_ceiling(
    settings: WindowSettings, max_pending: int | None, spout_tasks: int, max_uncommitted: int, partitions: int
) -> str:
    """A one-line statement of the highest sustained event rate the holding limits allow (for a warning)."""
    span_s = hold_span_s(settings)
    limits = [
        f"{max_uncommitted * max(1, partitions) / span_s:,.0f} events/s (pipeline.kafka.max_uncommitted "
        f"{max_uncommitted} x {partitions} partitions / {span_s:g}s)"
    ]
    if max_pending is not None:
        limits.append(
            f"{max_pending * max(1, spout_tasks) / span_s:,.0f} events/s (topology.max.spout.pending "
            f"{max_pending} x {spout_tasks} spout tasks / {span_s:g}s)"
        )
    return (
        "windows hold their tuples for the longest window + allowed lateness; above "
        + " or ".join(limits)
        + f" the spout stops, devices look idle after idle_timeout_s {settings.idle_timeout_s:g}s and windows "
        "close early (late events are dead-lettered). Set pipeline.peak_events_per_s to have this checked at start."
    )
