"""The cyclic garbage collector's settings for the pipeline's component processes.

Each event a bolt handles allocates a few containers (its dict, metrics, source list; msgpack builds them when a
batch is unpacked), so with CPython's default first-generation threshold (700 allocations) a collection runs
every couple of hundred events, and every tenth of those walks the second generation too. The long-lived state
(windows, detectors, dedup memory) and everything the imports created are walked again by each full
collection. Nothing in the pipeline relies on the collector (its records hold no reference cycles; memory is
freed by reference counting), so `tune_collector`, called once per process when its first component
initializes:

- collects once and freezes what exists then (modules, clients, settings: gc.freeze moves them to a permanent
  generation no collection walks again);
- raises the first generation's threshold to GEN0_THRESHOLD allocations, keeping the older generations' ratios.

GEN0_THRESHOLD is 100,000: unpacking a batch of a few hundred events allocates thousands of containers, so at
20,000 the aggregate bolt still ran a young collection every few batches and an older one every few dozen, each
walking the windows it holds (window engine fed packed batches of 300 events, µs per event, interleaved runs:
collector off ~6.5-6.9, 20,000 ~6.9-7.7, 100,000 ~6.6-6.9). A young generation of 100,000 containers is a few
tens of MB at most.

Cycles are still collected, less often. Under inline hosting the runner and every component share the process,
and so these settings.
"""

from __future__ import annotations

import gc

GEN0_THRESHOLD = 100_000
_tuned = False


def tune_collector() -> None:
    """Once per process: collect, freeze the survivors, raise the first generation's threshold."""
    global _tuned
    if _tuned:
        return
    _tuned = True
    gc.collect()
    gc.freeze()
    gen0, gen1, gen2 = gc.get_threshold()
    if gen0 and gen0 < GEN0_THRESHOLD:  # 0: the collector is off, leave it so
        gc.set_threshold(GEN0_THRESHOLD, gen1, gen2)
