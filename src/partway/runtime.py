"""The interpreter's settings for a serving process: how its threads share the GIL, and when
the cyclic garbage collector runs. Both bear on how long an API request can be held up. And
for a client command, whose process start and exit are part of every upload's time."""

from __future__ import annotations

import gc
import sys
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .metrics import Metrics

# The event loop gives up the GIL at every SQLite call and socket send; with body threads busy,
# taking it back waited up to the 5 ms default each time, and API requests that make a dozen
# such calls took seconds under load (py-spy: the loop in pthread_cond_timedwait).
GIL_SWITCH_SECONDS = 0.0005
# Each pass of the collector holds every thread for as long as it walks its generations, so
# the longest pass is what an API request can be held up by. Requests leave (almost) no cycles,
# so passes free next to nothing, and under load the walking thread shares two busy cores.
# Measured with 1,000 slow uploads and 4,000 idle connections (bench/slow.py at N = 1,000,
# interleaved runs, gc.callbacks):
# - (10,000, 10, 10): gen-1 passes walk up to 110,000 objects, 100-160 ms each. API p99 over
#   7 runs 73-115 ms (median 105), max 104-270 ms (median 140).
# - (700, 10, ...), Python's own young thresholds: gen-1 passes 40-80 ms. p99 over 8 runs
#   66-117 ms (median 84), max 89-153 ms (median 100), for ~0.3 s more collector time in a
#   6 GiB run.
# Full passes walk every live object (50-280 ms at that load, seven a run at Python's default
# third threshold of 10): 1,000 gen-1 passes (some 7 million container allocations, minutes
# of such load; never while idle) between two of them reclaim what little reaches the old
# generation in cycles.
GC_THRESHOLDS = (700, 10, 1_000)


def tune_for_serving() -> None:
    sys.setswitchinterval(GIL_SWITCH_SECONDS)
    # What exists once the app is built (modules, routes, SQL metadata: ~100,000 objects, a
    # 31 ms walk of its own) lives as long as the process: no collection need walk it again.
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def watch_collector(metrics: Metrics) -> None:
    """Each pass of the cyclic collector into the metrics: how long it held every thread and
    what it freed (what requests left in reference cycles; ideally nothing)."""
    started = [0.0]

    def observe(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
            return
        generation = str(info["generation"])
        metrics.gc_pauses.labels(generation).observe(time.perf_counter() - started[0])
        metrics.gc_collected.labels(generation).inc(info["collected"])

    gc.callbacks.append(observe)


def settle_after_imports() -> None:
    """For a client command once it has imported what it runs with: those objects (modules,
    classes: ~22,000 tracked) live until the process exits; frozen, no collection walks them again,
    the interpreter's at exit included (12 ms less of every `partway upload` here). The
    collector, off during the imports (__main__.py), is back on."""
    gc.freeze()
    gc.enable()
