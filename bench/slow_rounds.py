"""Several rounds of one bench/slow.py row, merged into one row for the report.

One round's API p99 is the ~4th-slowest of some 400 probe requests: between two rounds of the
same code it moved by 2x here for both servers (partway 17-33 ms, @tus/server 12-48 ms at
N = 100, six interleaved rounds), so "no worse than the peer" decided on one round was a coin
toss. Merged, the latencies are pooled (the p99 of every probe request of every round) and each
round's p99 is kept beside them; counted peaks (threads, RSS, descriptors) are the worst round's;
rates and CPU per GiB the median round's; counts of uploads, failures and collector passes are
summed.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from typing import Any


def percentile(values: list[float], p: float) -> float:
    """Nearest rank."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)] if ordered else math.nan


def merge_rounds(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """One row of a server at one N from its rounds (in the order they ran)."""
    if len(rounds) == 1:
        return {**rounds[0], "rounds": 1}
    first = rounds[0]

    def median(key: str) -> float:
        values = [float(r[key]) for r in rounds if not math.isnan(float(r[key]))]
        return statistics.median(values) if values else math.nan

    def median_of(key: str, sub: str) -> float:
        return statistics.median(float(r[key][sub]) for r in rounds)

    failures: Counter[str] = Counter()
    for r in rounds:
        failures.update(r["failures"])
    exited = [r["server_exited"] for r in rounds if r["server_exited"] is not None]
    return {
        **first,
        "rounds": len(rounds),
        "completed": sum(r["completed"] for r in rounds),
        "failures": dict(failures),
        "seconds": median("seconds"),
        "aggregate_mbps": median("aggregate_mbps"),
        "peak_mbps": median("peak_mbps"),
        "paced_90": median("paced_90"),
        "paced_median": median("paced_median"),
        "upload_connect": {p: median_of("upload_connect", p) for p in ("p50", "p99")},
        "upload_create": {p: median_of("upload_create", p) for p in ("p50", "p99")},
        "latency": _pooled_latency(rounds),
        "threads": max(r["threads"] for r in rounds),
        "threads_limit": max((r["threads_limit"] or 0) for r in rounds) or None,
        "gc": _summed(r["gc"] for r in rounds),
        "rss": max(r["rss"] for r in rounds),
        "fds": max(r["fds"] for r in rounds),
        "server_cpu_per_gib": median("server_cpu_per_gib"),
        "client_cpu_per_gib": median("client_cpu_per_gib"),
        "idle": _merged_idle([r["idle"] for r in rounds]),
        "idle_open_seconds": max(r["idle_open_seconds"] for r in rounds),
        "server_exited": exited[0] if exited else None,
        "loop_lag": {k: max(r["loop_lag"][k] for r in rounds) for k in ("uploads", "probe")},
        "others_cores": median("others_cores"),
        "load_average": median("load_average"),
    }


def _pooled_latency(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    samples = [(key, seconds) for r in rounds for key, seconds in r["latency"]["samples"]]
    latencies = [seconds for _, seconds in samples]
    by_request: dict[str, list[float]] = {}
    for key, seconds in samples:
        by_request.setdefault(key, []).append(seconds)
    errors: Counter[str] = Counter()
    for r in rounds:
        errors.update(r["latency"]["errors"])
    return {
        "count": len(latencies),
        "p50": percentile(latencies, 50),
        "p99": percentile(latencies, 99),
        "max": max(latencies, default=math.nan),
        "errors": dict(errors),
        "by_request": {
            k: {"count": len(v), "p50": percentile(v, 50), "p99": percentile(v, 99)}
            for k, v in sorted(by_request.items())
        },
        "p99_rounds": [r["latency"]["p99"] for r in rounds],
        "samples": samples,
    }


def _summed(parts: Any) -> dict[str, float]:
    total: Counter[str] = Counter()
    for part in parts:
        total.update(part or {})
    return dict(total)


def _merged_idle(idles: list[dict[str, Any]]) -> dict[str, Any]:
    if not all(idles):
        return {}
    failures: Counter[str] = Counter()
    for idle in idles:
        failures.update(idle["open_failures"])
    lifetimes = [idle["median_lifetime"] for idle in idles if idle["median_lifetime"] is not None]
    summed = ("asked", "opened", "closed_by_server", "reopened", "open_at_end")
    return {
        **{k: sum(idle[k] for idle in idles) for k in summed},
        "open_failures": dict(failures),
        "median_lifetime": statistics.median(lifetimes) if lifetimes else None,
    }
