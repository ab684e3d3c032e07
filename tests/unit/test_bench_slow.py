"""The many-slow-clients benchmark's own pieces: its plan, its pacing, its arithmetic and the
report section it writes (bench/slow.py, bench/slowclient.py)."""

from __future__ import annotations

import asyncio
import math
import time
from pathlib import Path

import pytest
from bench.report import SLOW_HEADING, kept_section, replace_section
from bench.slow import POOL, Workload, peak_rate
from bench.slow_rounds import merge_rounds, percentile
from bench.slowclient import Conn, Pacer

MIB = 1024 * 1024


def workload(n: int = 500, seed: int = 14) -> Workload:
    return Workload(
        n=n,
        sizes=(4 * MIB, 8 * MIB),
        rates=(0.5e6, 20e6),
        idle=0,
        seed=seed,
        deadline=60,
        ramp=2,
        probe_rate=5,
        workers=2,
        reopen_idle=False,
    )


def test_the_plan_is_fixed_by_its_seed_and_stays_in_its_ranges() -> None:
    plan = workload().plan()
    assert plan == workload().plan()
    assert plan != workload(seed=15).plan()
    assert all(4 * MIB <= p["size"] <= 8 * MIB for p in plan)
    assert all(0.5e6 <= p["rate"] <= 20e6 for p in plan)
    assert all(0 <= p["offset"] < POOL and 0 <= p["delay"] < 1 for p in plan)
    # log-uniform: as many uploads below the geometric middle (~3.16 MB/s) as above it
    below = sum(p["rate"] < math.sqrt(0.5e6 * 20e6) for p in plan)
    assert 200 < below < 300


def test_percentile_is_the_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile([3.0], 99) == 3
    assert math.isnan(percentile([], 50))


def test_peak_rate_is_the_best_window_with_each_upload_spread_over_its_time() -> None:
    uploads = [
        {"start": 0.0, "end": 10.0, "size": 100},  # 10/s for 10 s
        {"start": 2.0, "end": 4.0, "size": 100},  # 50/s for 2 s
    ]
    assert peak_rate(uploads, window=5) == 30  # (50 + 100) / 5
    assert peak_rate(uploads[:1], window=20) == 10  # shorter than the window: the whole


def test_the_slow_section_is_replaced_in_place_and_kept_by_the_main_report(tmp_path: Path) -> None:
    out = tmp_path / "benchmarks.md"
    out.write_text("# partway benchmarks\n\n## Rows\n\nrows\n")
    replace_section(out, SLOW_HEADING, f"{SLOW_HEADING}\n\nfirst\n\n### N = 100\n\ntable\n")
    replace_section(out, SLOW_HEADING, f"{SLOW_HEADING}\n\nsecond\n")
    text = out.read_text()
    assert text.startswith("# partway benchmarks\n\n## Rows\n\nrows\n\n## Many slow clients")
    assert "second" in text and "first" not in text and "### N = 100" not in text
    assert kept_section(out, SLOW_HEADING) == f"{SLOW_HEADING}\n\nsecond\n"


def test_a_paced_body_arrives_at_its_rate() -> None:
    """1 MB at 4 MB/s takes ~0.25 s at the server, however fast the socket is."""

    async def main() -> float:
        took: list[float] = []
        served = asyncio.Event()  # the handler closed its side: nothing left for the GC

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            began = time.perf_counter()
            await reader.readexactly(length)
            took.append(time.perf_counter() - began)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()
            await reader.read()  # the client closes first; then this side closes its writer
            writer.close()
            await writer.wait_closed()
            served.set()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        conn = await Conn.open(f"http://127.0.0.1:{port}", 256 * 1024)
        reply = await conn.request("PUT", "/", {}, b"x" * 1_000_000, Pacer(4e6))
        assert reply.status == 200 and reply.body == b"ok"
        conn.close()
        await served.wait()
        server.close()
        await server.wait_closed()
        return took[0]

    seconds = asyncio.run(main())
    assert 0.2 < seconds < 0.4, seconds


def _round(p99_samples: list[float], threads: int, completed: int) -> dict[str, object]:
    samples = [("get session / get session", s) for s in p99_samples]
    return {
        "n": 10, "completed": completed, "failures": {"timeout": 10 - completed},
        "seconds": 30.0, "aggregate_mbps": 40.0 + threads, "peak_mbps": 190.0,
        "paced_90": 0.9, "paced_median": 0.99,
        "upload_connect": {"p50": 0.0, "p99": 0.002}, "upload_create": {"p50": 0.01, "p99": 0.06},
        "latency": {
            "count": len(samples), "p50": percentile(p99_samples, 50),
            "p99": percentile(p99_samples, 99), "max": max(p99_samples),
            "errors": {}, "by_request": {}, "samples": samples,
        },
        "threads": threads, "threads_limit": 23, "gc": {"passes_0": 5.0, "seconds": 0.1},
        "rss": threads * MIB, "fds": 100 + threads, "server_cpu_per_gib": float(threads),
        "client_cpu_per_gib": 2.0,
        "idle": {"asked": 50, "opened": 50, "open_failures": {}, "closed_by_server": 50,
                 "median_lifetime": 1.0, "reopened": 0, "open_at_end": 0},
        "idle_open_seconds": 0.5, "server_exited": None,
        "loop_lag": {"uploads": 0.001, "probe": 0.002}, "others_cores": 0.0, "load_average": 1.0,
    }  # fmt: skip


def test_rounds_pool_their_latencies_and_keep_the_worst_peaks() -> None:
    fast = [0.001 * (i % 10 + 1) for i in range(200)]  # p99 10 ms
    slow = [*fast[:199], 0.5]  # one slow request: its round's p99 is still 10 ms
    merged = merge_rounds([_round(fast, 11, 10), _round(slow, 13, 9), _round(fast, 12, 10)])
    latency = merged["latency"]
    assert latency["count"] == 600 and latency["max"] == 0.5
    assert latency["p99"] == percentile([s for _, s in latency["samples"]], 99) == 0.01
    assert latency["p99_rounds"] == [0.01, 0.01, 0.01]
    assert latency["by_request"]["get session / get session"]["count"] == 600
    assert (merged["rounds"], merged["completed"], merged["failures"]) == (3, 29, {"timeout": 1})
    assert (merged["threads"], merged["rss"], merged["fds"]) == (13, 13 * MIB, 113)
    assert merged["server_cpu_per_gib"] == 12.0 and merged["aggregate_mbps"] == 52.0
    assert merged["gc"] == {"passes_0": 15.0, "seconds": pytest.approx(0.3)}
    assert merged["idle"]["opened"] == 150 and merged["idle"]["median_lifetime"] == 1.0
    assert merge_rounds([_round(fast, 11, 10)])["rounds"] == 1
