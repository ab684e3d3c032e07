"""Many slow uploads at once (issue #14): N concurrent uploads paced to WAN-like rates, idle
keep-alive connections beside them, API latency probed during the load; partway and @tus/server
side by side, one row each per N.

bench/run --slow             N = 100 and 1,000, 4,000 idle connections → docs/benchmarks.md
bench/run --slow --smoke     N = 10, 50 idle, tiny sizes (< 30 s; CI) → bench/smoke.md
python -m bench.slow --n 20 --idle 100 --out /tmp/slow.md    (any mix; see --help)

A row: start the server, sample it every 0.5 s (threads, RSS, descriptors, CPU), open the idle
connections (bench/slowclient.py aux), then start the upload workers (bench/slowclient.py uploads,
each driving its share of the N uploads on one event loop) and the latency probe together; when
every upload has completed or failed (each has a deadline), stop the probe, read the server's
peaks, then check every completed upload's bytes against the source (SHA-256) outside the
measured window, stop the server and delete what it stored.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import math
import mmap
import os
import queue
import random
import resource
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import httpx
import psutil
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console

from .measure import (
    GIB,
    KIB,
    MB,
    MIB,
    ROOT,
    TUS_NODE,
    Peaks,
    Sampler,
    Server,
    start,
    start_partway,
    tus_node_command,
)
from .report import SLOW_HEADING, machine, replace_section
from .slow_report import fmt_failures, fmt_idle, fmt_latency, fmt_probe, num, section
from .slow_rounds import merge_rounds, percentile

console = Console(stderr=True)
# The bodies are cut from one file of random bytes: upload i is the `size` bytes at its own
# `offset`, so every upload's bytes differ and each can be checked against its expected SHA-256.
POOL = 64 * MIB
SERVERS = {"partway": "partway", "tus": TUS_NODE}


@dataclass(frozen=True)
class Workload:
    n: int
    sizes: tuple[int, int]  # bytes, inclusive
    rates: tuple[float, float]  # bytes/s
    idle: int
    seed: int
    deadline: float
    ramp: float
    probe_rate: float
    workers: int
    reopen_idle: bool

    def plan(self) -> list[dict[str, Any]]:
        """Every upload: its size, its paced rate (log-uniform over `rates`), where its bytes
        start in the source, and when it starts (a fraction of the ramp). Fixed by the seed."""
        rnd = random.Random(self.seed)
        lo, hi = math.log(self.rates[0]), math.log(self.rates[1])
        return [
            {
                "i": i,
                "size": rnd.randint(*self.sizes),
                "rate": math.exp(rnd.uniform(lo, hi)),
                "offset": rnd.randrange(POOL),
                "delay": rnd.random(),
            }
            for i in range(self.n)
        ]


def make_source(path: Path, largest: int) -> None:
    """POOL random bytes, then their first `largest` again, so any upload is one slice."""
    pool = os.urandom(POOL)
    with path.open("wb") as f:
        f.write(pool)
        while largest > 0:
            f.write(pool[: min(largest, POOL)])
            largest -= POOL


def peak_rate(uploads: list[dict[str, Any]], window: float = 5.0) -> float:
    """The highest rate (bytes/s) over any `window` seconds, each upload's bytes spread evenly
    over its duration (the bench client sees parts, not bytes, arrive)."""
    if not uploads:
        return math.nan
    began = min(u["start"] for u in uploads)
    span = max(u["end"] for u in uploads) - began
    if span <= window:
        return float(sum(u["size"] for u in uploads) / max(span, 1e-3))
    bins = [0.0] * (int(span) + 2)
    for u in uploads:
        a, b = u["start"] - began, u["end"] - began
        rate = u["size"] / max(b - a, 1e-3)
        for second in range(int(a), int(b) + 1):
            bins[second] += rate * max(0.0, min(b, second + 1) - max(a, second))
    width = max(1, int(window))
    return max(sum(bins[i : i + width]) for i in range(max(1, len(bins) - width + 1))) / width


def busy_cpu() -> float:
    """CPU seconds the whole machine has spent busy (not idle, not waiting for I/O)."""
    t = psutil.cpu_times()
    return float(t.user + t.nice + t.system + t.irq + t.softirq)


class Lines:
    """A child's stdout lines, read by a thread, so the parent can wait for one with a timeout."""

    def __init__(self, stream: IO[str]) -> None:
        self._queue: queue.Queue[str | None] = queue.Queue()

        def read() -> None:
            for line in stream:
                self._queue.put(line)
            self._queue.put(None)

        threading.Thread(target=read, daemon=True).start()

    def next(self, timeout: float) -> str | None:
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def result_of(proc: subprocess.Popen[str], path: Path, timeout: float) -> dict[str, Any] | None:
    """A client process's result, once it has exited (killed when `timeout` passes first)."""
    try:
        proc.wait(timeout=max(1.0, timeout))
    except subprocess.TimeoutExpired:
        stop(proc)
        return None
    try:
        found: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return found


@dataclass
class Measured:
    """What one row's run gathered, before it is summed up."""

    uploads: list[dict[str, Any]] = field(default_factory=list)
    verified: dict[int, str] = field(default_factory=dict)
    lost: int = 0
    client_cpu: float = 0.0
    lag: float = 0.0
    server_cpu: float = 0.0
    peaks: Peaks = field(default_factory=Peaks)
    hwm: int = 0
    exited: int | None = None
    aux: dict[str, Any] = field(default_factory=lambda: {"idle": {}, "probe": {}})
    idle_open_seconds: float = math.nan
    busy: float = math.nan  # CPU seconds the whole machine spent during the load
    load_seconds: float = math.nan
    load_average: float = math.nan  # 1-minute, as the load began
    threads_limit: int | None = None  # partway's own statement of its most threads
    gc: dict[str, float] = field(default_factory=dict)  # its cyclic collector (partway_metrics)


def partway_metrics(url: str) -> tuple[int | None, dict[str, float]]:
    """From the server's /metrics: its partway_threads_limit gauge, and its cyclic collector's
    passes (by generation), pause seconds, passes over 50 ms and objects freed."""
    try:
        text = httpx.get(f"{url}/metrics", timeout=30).text
    except httpx.HTTPError:
        return None, {}
    limit = None
    gc: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "partway_threads_limit":
                limit = int(sample.value)
            elif sample.name == "partway_gc_pause_seconds_count":
                gc[f"passes_{sample.labels['generation']}"] = sample.value
            elif sample.name == "partway_gc_pause_seconds_sum":
                gc["seconds"] = gc.get("seconds", 0.0) + sample.value
            elif sample.name == "partway_gc_pause_seconds_bucket":
                if float(sample.labels["le"]) == 0.05:
                    gc["under_50ms"] = gc.get("under_50ms", 0.0) + sample.value
            elif sample.name == "partway_gc_collected_objects_total":
                gc["freed"] = gc.get("freed", 0.0) + sample.value
    return limit, gc


class SlowBench:
    def __init__(self, work: Path, fsync: bool) -> None:
        self.work = work
        self.fsync = fsync
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        self.log = work / "servers.log"
        self.client_log = work / "clients.log"
        self.source = work / "source.bin"
        self.largest = 0

    def ensure_source(self, largest: int) -> None:
        if largest > self.largest:
            make_source(self.source, largest)
            self.largest = largest

    def client(self, role: str, kind: str, url: str, key: str, **options: object) -> list[str]:
        """The command line of a bench/slowclient.py process."""
        argv = [sys.executable, "-m", "bench.slowclient", role]
        argv += ["--protocol", kind, "--url", url, "--key", key]
        for name, value in options.items():
            flag = "--" + name.replace("_", "-")
            if value is True:
                argv.append(flag)
            elif value is not False:
                argv += [flag, str(value)]
        return argv

    def row(self, kind: str, w: Workload) -> dict[str, Any]:
        self.ensure_source(w.sizes[1])
        plans = w.plan()
        plan_path = self.work / f"plan-{w.n}.json"
        plan_path.write_text(json.dumps(plans))
        for stale in [self.work / "aux.json", *self.work.glob("uploads-*.json")]:
            stale.unlink(missing_ok=True)
        data = self.work / f"{kind}-{w.n}"
        key = ""
        if kind == "partway":
            server, key = start_partway(data, self.fsync, self.log)
        else:
            data.mkdir(parents=True)
            server = start(tus_node_command(data), log=self.log)
        children: list[subprocess.Popen[str]] = []
        clients_log = self.client_log.open("a")
        m = Measured()
        try:
            sampler = Sampler(server.proc.pid)
            aux = subprocess.Popen(
                self.client(
                    "aux",
                    kind,
                    server.url,
                    key,
                    idle=w.idle,
                    probe_rate=w.probe_rate,
                    reopen_idle=w.reopen_idle,
                    result=self.work / "aux.json",
                ),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=clients_log,
                text=True,
            )
            children.append(aux)
            assert aux.stdin is not None and aux.stdout is not None
            aux_lines = Lines(aux.stdout)
            ready = aux_lines.next(timeout=300)
            if ready is None:
                raise RuntimeError("the idle connections were not all open within 300 s")
            m.idle_open_seconds = json.loads(ready)["ready"]
            console.print(f"  {w.idle} idle connections opened in {m.idle_open_seconds:.1f} s")
            cpu0, busy0, began = server.cpu(), busy_cpu(), time.monotonic()
            m.load_average = os.getloadavg()[0]
            options = {"plan": plan_path, "source": self.source, "workers": w.workers}
            options |= {"deadline": w.deadline, "ramp": w.ramp}
            workers = [
                subprocess.Popen(
                    self.client(
                        "uploads",
                        kind,
                        server.url,
                        key,
                        worker=k,
                        result=self.work / f"uploads-{k}.json",
                        **options,
                    ),
                    stdout=subprocess.DEVNULL,
                    stderr=clients_log,
                    text=True,
                )
                for k in range(w.workers)
            ]
            children += workers
            aux.stdin.write("go\n")
            aux.stdin.flush()
            self.collect(workers, plans, w, m)
            m.server_cpu = server.cpu() - cpu0
            m.busy = busy_cpu() - busy0
            m.load_seconds = time.monotonic() - began
            aux.stdin.write("stop\n")
            aux.stdin.flush()
            aux_out = result_of(aux, self.work / "aux.json", 120)
            m.peaks = sampler.stop()
            m.hwm = server.peak_rss()
            if kind == "partway":
                m.threads_limit, m.gc = partway_metrics(server.url)
            m.exited = server.proc.poll()
            if aux_out is not None:
                m.aux = aux_out
            m.verified = self.verify(kind, server, key, data, m.uploads, plans)
        finally:
            for child in children:
                stop(child)
            clients_log.close()
            server.stop()
            shutil.rmtree(data, ignore_errors=True)
        return self.summarize(kind, w, plans, m)

    def collect(
        self,
        workers: list[subprocess.Popen[str]],
        plans: list[dict[str, Any]],
        w: Workload,
        m: Measured,
    ) -> None:
        """The upload records of every worker, their CPU seconds, how many uploads were lost
        (a worker that outlives every deadline is killed, or leaves no result) and the worst
        loop lag (p99)."""
        deadline = time.monotonic() + w.ramp + w.deadline + 60
        for k, worker in enumerate(workers):
            path = self.work / f"uploads-{k}.json"
            result = result_of(worker, path, deadline - time.monotonic())
            path.unlink(missing_ok=True)
            if result is None:
                m.lost += len(plans[k :: w.workers])
                continue
            m.uploads += result["uploads"]
            m.client_cpu += result["client_cpu"]
            m.lag = max(m.lag, result["loop_lag"]["p99"])

    def verify(
        self,
        kind: str,
        server: Server,
        key: str,
        data: Path,
        uploads: list[dict[str, Any]],
        plans: list[dict[str, Any]],
    ) -> dict[int, str]:
        """Each completed upload's stored bytes against its slice of the source: "ok", or what
        differed. Outside the measured window."""
        fd = os.open(self.source, os.O_RDONLY)
        source = memoryview(mmap.mmap(fd, 0, prot=mmap.PROT_READ))
        os.close(fd)
        offsets = {p["i"]: p["offset"] for p in plans}
        headers = {
            "Authorization": f"Bearer {key}",
            "x-apideck-app-id": "bench",
            "x-apideck-consumer-id": "bench",
        }
        local = threading.local()

        def stored(u: dict[str, Any]) -> tuple[int, bytes] | str:
            digest = hashlib.sha256()
            count = 0
            if kind == "tus":
                path = data / u["id"]
                if not path.exists():
                    return "missing"
                with path.open("rb") as f:
                    while block := f.read(MIB):
                        digest.update(block)
                        count += len(block)
                return count, digest.digest()
            if not hasattr(local, "client"):
                local.client = httpx.Client(base_url=server.url, headers=headers, timeout=120)
            url = f"/file-storage/files/{u['id']}/download"
            with local.client.stream("GET", url) as res:
                if res.status_code != 200:
                    return f"HTTP {res.status_code}"
                for chunk in res.iter_bytes(MIB):
                    digest.update(chunk)
                    count += len(chunk)
            return count, digest.digest()

        def check(u: dict[str, Any]) -> tuple[int, str]:
            try:
                got = stored(u)
            except httpx.HTTPError as exc:
                return u["i"], type(exc).__name__
            if isinstance(got, str):
                return u["i"], got
            start = offsets[u["i"]]
            expected = hashlib.sha256(source[start : start + u["size"]]).digest()
            if got[0] != u["size"]:
                return u["i"], "wrong size"
            return u["i"], "ok" if got[1] == expected else "bytes differ"

        done = [u for u in uploads if u["ok"]]
        with ThreadPoolExecutor(4) as pool:
            return dict(pool.map(check, done))

    def summarize(
        self, kind: str, w: Workload, plans: list[dict[str, Any]], m: Measured
    ) -> dict[str, Any]:
        uploads, verified, aux, peaks = m.uploads, m.verified, m.aux, m.peaks
        failures: Counter[str] = Counter()
        for u in uploads:
            if not u["ok"]:
                failures[u["error"]] += 1
            elif verified.get(u["i"]) != "ok":
                failures[f"verify: {verified.get(u['i'], 'not checked')}"] += 1
        if m.lost:
            failures["client worker killed or failed (its uploads unaccounted)"] += m.lost
        if m.exited is not None:
            failures[f"the server exited ({m.exited}) during the load"] += 1
        good = [u for u in uploads if u["ok"] and verified.get(u["i"]) == "ok"]
        moved = sum(u["size"] for u in good)
        if uploads:
            window = max(u["end"] for u in uploads) - min(u["start"] for u in uploads)
        else:
            window = math.nan
        paced = [u["size"] / u["rate"] / (u["end"] - u["start"]) for u in good]
        connects, creates = [], []
        for u in uploads:
            marks = sorted(u.get("marks", {}).items(), key=lambda kv: kv[1])
            names = [name for name, _ in marks]
            if "create" in names:
                connects.append(u["marks"]["create"])
                at = names.index("create")
                if at + 1 < len(marks):
                    creates.append(marks[at + 1][1] - marks[at][1])
        samples = aux.get("probe", {}).get("samples", [])
        latencies = [s[2] for s in samples]
        by_request: dict[str, list[float]] = {}
        for op, request, seconds, _ in samples:
            by_request.setdefault(f"{op} / {request}", []).append(seconds)
        gib = moved / GIB
        return {
            "server": SERVERS[kind],
            "kind": kind,
            "n": w.n,
            "sizes": w.sizes,
            "planned_bytes": sum(p["size"] for p in plans),
            "demanded_mbps": sum(p["rate"] for p in plans) / MB,
            "completed": len(good),
            "failures": dict(failures),
            "seconds": window,
            "aggregate_mbps": moved / MB / window if window else math.nan,
            "peak_mbps": peak_rate(good) / MB,
            "paced_90": sum(r >= 0.9 for r in paced) / len(paced) if paced else math.nan,
            "paced_median": percentile(paced, 50),
            "upload_connect": {"p50": percentile(connects, 50), "p99": percentile(connects, 99)},
            "upload_create": {"p50": percentile(creates, 50), "p99": percentile(creates, 99)},
            "latency": {
                "count": len(latencies),
                "p50": percentile(latencies, 50),
                "p99": percentile(latencies, 99),
                "max": max(latencies, default=math.nan),
                "errors": aux.get("probe", {}).get("errors", {}),
                "by_request": {
                    k: {"count": len(v), "p50": percentile(v, 50), "p99": percentile(v, 99)}
                    for k, v in sorted(by_request.items())
                },
                # Each request's time, so that rounds can be pooled (slow_rounds.py).
                "samples": [(f"{op} / {request}", seconds) for op, request, seconds, _ in samples],
            },
            "threads": peaks.threads,
            "threads_limit": m.threads_limit,
            "gc": m.gc,
            "rss": m.hwm or peaks.rss,
            "fds": peaks.fds,
            "server_cpu_per_gib": m.server_cpu / gib if gib else math.nan,
            "client_cpu_per_gib": m.client_cpu / gib if gib else math.nan,
            "idle": aux.get("idle", {}),
            "idle_open_seconds": m.idle_open_seconds,
            "server_exited": m.exited,
            "loop_lag": {"uploads": m.lag, "probe": aux.get("loop_lag", {}).get("p99", math.nan)},
            "series": peaks.series,
            "uploads": uploads,
            # What else ran on the machine during the load: its CPU minus the server's and the
            # clients' (the probe's counted from "go" to "stop", close enough).
            "others_cores": (m.busy - m.server_cpu - m.client_cpu - aux.get("client_cpu", 0.0))
            / m.load_seconds,
            "load_average": m.load_average,
        }


# the report


def settings(args: argparse.Namespace) -> dict[str, Any]:
    """What the report says of a run, kept with each row (so --report-only can rewrite it)."""
    keep = (
        "rate", "seed", "ramp", "deadline", "probe_rate", "reopen_idle", "fsync", "workers",
        "rounds",
    )  # fmt: skip
    found = {k: getattr(args, k) for k in (*keep, "idle", "smoke")}
    return found | {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "machine": machine()}


def parse_range(text: str, unit: float) -> tuple[float, float]:
    lo, _, hi = text.partition("-")
    return float(lo) * unit, float(hi or lo) * unit


def default_sizes(n: int, smoke: bool) -> tuple[int, int]:
    """Per upload: 8–24 MiB up to N = 100 (multi-part), 4–8 MiB above (N = 1,000: ~6 GiB)."""
    if smoke:
        return 256 * KIB, MIB
    return (8 * MIB, 24 * MIB) if n <= 100 else (4 * MIB, 8 * MIB)


def main(argv: list[str] | None = None) -> None:

    parser = argparse.ArgumentParser(
        prog="bench --slow",
        description="Many slow uploads at once (issue #14), partway and @tus/server side by side.",
    )
    parser.add_argument("--smoke", action="store_true", help="N=10, 50 idle, tiny sizes")
    parser.add_argument("--n", help="comma-separated upload counts (default 100,1000)")
    parser.add_argument("--idle", type=int, help="idle keep-alive connections (default 4000)")
    parser.add_argument("--size-mib", help="upload sizes, e.g. 4-8 (default: by N, see report)")
    parser.add_argument("--rate", default="0.5-20", help="paced rates in MB/s (log-uniform)")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--workers", type=int, help="upload client processes (default 2)")
    parser.add_argument("--deadline", type=float, help="seconds each upload may take (180)")
    parser.add_argument("--ramp", type=float, default=2.0, help="seconds over which uploads start")
    parser.add_argument("--probe-rate", type=float, default=5.0)
    parser.add_argument("--reopen-idle", action="store_true")
    parser.add_argument("--no-fsync", dest="fsync", action="store_false")
    parser.add_argument("--servers", default="partway,tus", help="partway,tus")
    parser.add_argument(
        "--rounds", type=int, help="rounds per N, servers interleaved (default 3; smoke: 1)"
    )
    parser.add_argument("--out", type=Path)
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / ".work" / "slow")
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="rewrite the report section from the rows of the last run (in --work), run nothing",
    )
    args = parser.parse_args(argv)
    ns = [int(x) for x in (args.n or ("10" if args.smoke else "100,1000")).split(",")]
    args.idle = args.idle if args.idle is not None else (50 if args.smoke else 4000)
    args.workers = args.workers or (1 if args.smoke else 2)
    args.deadline = args.deadline or (20 if args.smoke else 180)
    args.rounds = args.rounds or (1 if args.smoke else 3)
    args.rate = parse_range(args.rate, 1)
    out = args.out or (
        ROOT / "bench" / "smoke.md" if args.smoke else ROOT / "docs" / "benchmarks.md"
    )
    # Thousands of sockets on both ends: the servers started below inherit the raised limit.
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < args.idle + 2 * max(ns) + 100:
        console.print(f"[yellow]warning:[/] open-file limit {hard} is low for this run")
    rows: list[dict[str, Any]] = []
    if args.report_only:
        for n in ns:
            for kind in args.servers.split(","):
                rows.append(json.loads((args.work / f"{kind}-{n}.json").read_text()))
        replace_section(out, SLOW_HEADING, section(rows))
        console.print(f"wrote the '{SLOW_HEADING[3:]}' section of {out}")
        return
    bench = SlowBench(args.work, args.fsync)
    for n in ns:
        if args.size_mib:
            lo, hi = parse_range(args.size_mib, MIB)
            sizes = (int(lo), int(hi))
        else:
            sizes = default_sizes(n, args.smoke)
        w = Workload(
            n=n,
            sizes=sizes,
            rates=(args.rate[0] * MB, args.rate[1] * MB),
            idle=args.idle,
            seed=args.seed,
            deadline=args.deadline,
            ramp=args.ramp,
            probe_rate=args.probe_rate,
            workers=args.workers,
            reopen_idle=args.reopen_idle,
        )
        kinds = args.servers.split(",")
        rounds: dict[str, list[dict[str, Any]]] = {kind: [] for kind in kinds}
        for k, kind in itertools.product(range(1, args.rounds + 1), kinds):  # interleaved
            console.print(
                f"[bold]{SERVERS[kind]}[/], N={n}, {args.idle} idle, round {k}/{args.rounds}"
            )
            r = bench.row(kind, w)
            r["settings"] = settings(args)
            uploads = r.pop("uploads")  # every upload's record, for a closer look
            (args.work / f"{kind}-{n}-r{k}-uploads.json").write_text(json.dumps(uploads))
            (args.work / f"{kind}-{n}-r{k}.json").write_text(json.dumps(r, indent=1))
            rounds[kind].append(r)
            console.print(
                f"  {r['completed']}/{n} verified in {r['seconds']:.0f} s, "
                f"{num(r['aggregate_mbps'])} MB/s, failures: {fmt_failures(r)}; "
                f"API p50/p99/max {fmt_latency(r)} ({fmt_probe(r)}); "
                f"threads {r['threads']}, RSS {r['rss'] / MIB:.0f} MiB, fds {r['fds']}, "
                f"server CPU {num(r['server_cpu_per_gib'], '.2f')} s/GiB, "
                f"client CPU {num(r['client_cpu_per_gib'], '.2f')} s/GiB; idle: {fmt_idle(r)}"
            )
        for kind in kinds:
            merged = merge_rounds(rounds[kind])
            (args.work / f"{kind}-{n}.json").write_text(json.dumps(merged, indent=1))
            rows.append(merged)
    replace_section(out, SLOW_HEADING, section(rows))
    console.print(f"wrote the '{SLOW_HEADING[3:]}' section of {out}")
    incomplete = [f"{r['server']} N={r['n']}" for r in rows if r["completed"] < r["n"]]
    if incomplete and args.smoke:
        sys.exit(f"uploads failed or were not verified in: {', '.join(incomplete)}")


if __name__ == "__main__":
    main()
