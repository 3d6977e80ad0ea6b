"""The window engine against its reference (reference_manager: the engine before the per-event speed-ups),
operation by operation on random scripts: adds (several keys, re-deliveries, out-of-order and late times, metric
subsets), batch hold/unhold, idle ticks, clock moves past the retention, flushes and a recovery oracle. Every
Outcome, every oracle call and every unhold answer must be identical, values bit for bit; so must the sketch
quantiles read off the sorted values (stats.sketch_quantiles) and those of a sketch fed every value. One freedom: a tick or a flush visits keys
least recently active first (the reference: first seen first), so there the closed windows are compared key by
key (each key's in order) and the released tuples as a multiset. With max_keys / max_closed_windows large
enough never to evict, the bounded engine is the reference."""

from __future__ import annotations

import math
from typing import Any

from ddsketch import DDSketch
from ddsketch.mapping import LogarithmicMapping
from hypothesis import given, settings
from hypothesis import strategies as st

from squall.clock import ManualClock
from squall.windowing.definitions import WindowSettings, sliding, tumbling
from squall.windowing.manager import Outcome, WindowManager
from squall.windowing.stats import sketch_quantiles
from tests.unit.windowing import reference_manager as ref

T0 = 1_767_225_600_000
DEFINITIONS = [tumbling(1), tumbling(2), sliding(3, 1), sliding(6, 2), tumbling(60)]
METRICS = ("a", "b", "c")

values = st.one_of(
    st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, -0.0, 1.0, 2.5, -3.0, 1e-310, 45.0]),
)
add_op = st.tuples(
    st.just("add"),
    st.integers(0, 2),  # key
    st.integers(0, 25),  # event id
    st.one_of(
        st.integers(-3_000, 20_000), st.integers(-12, 80).map(lambda q: q * 250)
    ),  # offset, ms (on edges)
    st.dictionaries(st.sampled_from(METRICS), values, min_size=1, max_size=3),
    st.integers(0, 6),  # token
)
ops = st.lists(
    st.one_of(
        add_op,
        add_op,
        add_op,
        st.tuples(st.just("batch"), st.integers(0, 6), st.lists(add_op, max_size=4)),
        st.tuples(st.just("tick"), st.sampled_from([0.0, 0.5, 1.0, 3.0, 30.0])),
        st.tuples(st.just("sleep"), st.sampled_from([1.0, 3.0, 12.0])),  # time passes, no tick
        st.tuples(st.just("flush")),
    ),
    max_size=60,
)


def view(outcome: Any) -> Any:
    def windows(ws: Any) -> Any:
        return [
            (
                w.key,
                w.definition,
                w.start,
                w.end,
                [(m, repr(s)) for m, s in w.results.items()],
                w.tokens,
                sorted(w.event_ids),
                None if w.draft is None else sorted((m, list(v)) for m, v in w.draft.items()),
                w.clears_draft,
            )
            for w in ws
        ]

    return (
        outcome.late,
        outcome.duplicate,
        outcome.watermark,
        windows(outcome.closed),
        windows(outcome.reemitted),
        outcome.released,
        outcome.stored,
    )


def across_keys(outcome: Any) -> Any:
    """view(outcome) for a tick or a flush: closed windows grouped by key (each key's kept in order), released
    tuples sorted."""
    late, duplicate, watermark, closed, reemitted, released, stored = view(outcome)
    by_key: dict[Any, list[Any]] = {}
    for window in closed:
        by_key.setdefault(window[0], []).append(window)
    return late, duplicate, watermark, sorted(by_key.items()), reemitted, sorted(released), stored


def run(
    engine_cls: Any,
    script: list[Any],
    definitions: list[Any],
    oracle_seed: int | None,
    settings: WindowSettings | None = None,
) -> list[Any]:
    clock = ManualClock()
    settings = settings or WindowSettings(tuple(definitions), 2_000, 2.0, 0.01)
    wm = engine_cls(settings, clock, retain_closed_s=10.0)
    log: list[Any] = []
    if oracle_seed is not None:

        def oracle(key: Any, definition: Any, start: int, metric: str) -> Any:
            log.append(("asked", key, definition, start, metric))
            h = hash((key, definition.length_s, start, metric, oracle_seed))
            if h % 3 == 0:
                return True  # a complete row
            if h % 3 == 1:  # a provisional row: its draft (ids of events, the metric's values)
                return [f"e{i}" for i in range(h // 3 % 4)], [float(i) for i in range(1 + h // 12 % 3)]
            return False

        wm.recover_from(oracle, 5.0)

    def add(op: Any) -> None:
        _, key, event, dt, metrics, token = op
        out = wm.add(("t", f"d{key}"), f"e{event}", T0 + dt, metrics, f"k{token}")
        log.append(view(out))

    for op in script:
        if op[0] == "add":
            add(op)
        elif op[0] == "batch":
            token = f"b{op[1]}"
            wm.hold(token)
            for a in op[2]:
                add((*a[:5], op[1]))
            log.append(("unhold", wm.unhold(token)))
        elif op[0] == "sleep":
            clock.advance(op[1])
        elif op[0] == "tick":
            clock.advance(op[1])
            log.append(across_keys(wm.on_tick()))
        else:
            log.append(across_keys(wm.flush()))
        log.append((wm.open_windows(), wm.pending_tokens(), [wm.watermark(("t", f"d{k}")) for k in range(3)]))
    return log


@settings(max_examples=300, deadline=None)
@given(
    ops,
    st.lists(st.sampled_from(DEFINITIONS), min_size=1, max_size=3, unique=True),
    st.one_of(st.none(), st.integers(0, 5)),
)
def test_the_engine_matches_its_reference_operation_by_operation(
    script: list[Any], definitions: list[Any], oracle_seed: int | None
) -> None:
    assert run(WindowManager, script, definitions, oracle_seed) == run(
        ref.WindowManager, script, definitions, oracle_seed
    )
    assert Outcome is not ref.Outcome


@settings(max_examples=200, deadline=None)
@given(
    ops,
    st.lists(st.sampled_from(DEFINITIONS), min_size=1, max_size=3, unique=True),
    st.one_of(st.none(), st.integers(0, 5)),
)
def test_windows_past_the_draft_limit_store_no_draft_in_both_engines(
    script: list[Any], definitions: list[Any], oracle_seed: int | None
) -> None:
    """max_draft_events 1: a window closed early with two events or more stores no draft, and one that had a
    draft clears it."""
    small = WindowSettings(tuple(definitions), 2_000, 2.0, 0.01, max_draft_events=1)
    assert run(WindowManager, script, definitions, oracle_seed, small) == run(
        ref.WindowManager, script, definitions, oracle_seed, small
    )


@settings(max_examples=200, deadline=None)
@given(
    ops,
    st.lists(st.sampled_from(DEFINITIONS), min_size=1, max_size=3, unique=True),
    st.one_of(st.none(), st.integers(0, 5)),
)
def test_bounds_that_are_never_reached_change_nothing(
    script: list[Any], definitions: list[Any], oracle_seed: int | None
) -> None:
    """The tightest bounds that never evict: max_keys = the script's 3 keys, max_closed_windows = the most windows
    60 operations of at most 4 events can open (7 windows each, at most)."""
    tight = WindowSettings(tuple(definitions), 2_000, 2.0, 0.01, max_keys=3, max_closed_windows=60 * 4 * 7)
    assert run(WindowManager, script, definitions, oracle_seed, tight) == run(
        ref.WindowManager, script, definitions, oracle_seed
    )


def per_value_quantiles(ordered: list[float], accuracy: float) -> tuple[float, float]:
    sketch = DDSketch(accuracy)
    for value in ordered:
        sketch.add(value)
    p50, p95 = (sketch.get_quantile_value(q) for q in (0.5, 0.95))
    low, high = ordered[0], ordered[-1]
    return min(max(p50, low), high), min(max(p95, low), high)  # type: ignore[type-var]


def bin_edges(accuracy: float) -> st.SearchStrategy[float]:
    """Values on and next to the sketch's bin bounds (where a shortcut around the key would go wrong)."""
    mapping = LogarithmicMapping(accuracy)

    def edge(k: int, nudge: int, sign: int) -> float:
        bound = mapping.value(k) * (1 + mapping.gamma) / 2
        for _ in range(abs(nudge)):
            bound = math.nextafter(bound, math.inf if nudge > 0 else 0.0)
        return sign * bound

    return st.builds(edge, st.integers(-200, 200), st.integers(-2, 2), st.sampled_from([1, -1]))


@settings(max_examples=400, deadline=None)
@given(st.data(), st.sampled_from([0.01, 0.05, 0.001, 0.3]))
def test_quantiles_read_off_sorted_values_equal_those_of_a_sketch_fed_per_value(
    data: Any, accuracy: float
) -> None:
    ordered = sorted(
        data.draw(
            st.lists(
                st.one_of(values, bin_edges(accuracy), st.floats(-1e300, 1e300, allow_nan=False)),
                min_size=1,
                max_size=80,
            )
        )
    )
    assert repr(sketch_quantiles(ordered, accuracy)) == repr(per_value_quantiles(ordered, accuracy))


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.sampled_from([-2.5, -1e-310, -0.0, 0.0, 1e-310, 0.5, 0.505, 1.0, 7.0]), min_size=1, max_size=400
    ),
    st.sampled_from([0.01, 0.3]),
)
def test_quantiles_of_many_repeated_values_equal_those_of_a_sketch(
    drawn: list[float], accuracy: float
) -> None:
    """Long windows of few distinct values (counts land exactly on the ranks 0.5 (n - 1) and 0.95 (n - 1)),
    with zeros, subnormals and both signs."""
    ordered = sorted(drawn)
    assert repr(sketch_quantiles(ordered, accuracy)) == repr(per_value_quantiles(ordered, accuracy))
