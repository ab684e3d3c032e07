"""Processes under measurement: start a server, sample its CPU, RSS, threads and descriptors,
stop it."""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
import psutil

KIB = 1024
MIB = 1024 * 1024
GIB = 1024**3
MB = 1000 * 1000
ROOT = Path(__file__).resolve().parent.parent
TUS_NODE = "tus-node-server (@tus/server 2.4.5 + @tus/file-store)"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("server did not open its port")


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu(self) -> float:
        times = psutil.Process(self.proc.pid).cpu_times()
        return float(times.user + times.system)

    def peak_rss(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        return 0

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def start(cmd: list[str], env: dict[str, str] | None = None, log: Path | None = None) -> Server:
    port = free_port()
    argv = [a.replace("{port}", str(port)) for a in cmd]
    out = log.open("ab") if log else subprocess.DEVNULL
    proc = subprocess.Popen(argv, env={**os.environ, **(env or {})}, stdout=out, stderr=out)
    wait_for_port(port, proc)
    return Server(proc, port)


def tus_node_command(store: Path) -> list[str]:
    """The tus-node peer (bench/peers/tus-node, installed by `npm ci`) storing into `store`."""
    return ["node", str(ROOT / "bench" / "peers" / "tus-node" / "server.mjs"), "{port}", str(store)]


def start_partway(
    data: Path, fsync: bool, log: Path | None = None, extra: dict[str, str] | None = None
) -> tuple[Server, str]:
    """`partway serve` on a free port with its data in `data`, and an API key of app `bench`."""
    env = {
        "PARTWAY_DATA_DIR": str(data),
        "PARTWAY_FSYNC": "true" if fsync else "false",
        # BENCH_PARTWAY_LOG_LEVEL=info: the request log (queued_ms and all) in the run's log.
        "PARTWAY_LOG_LEVEL": os.environ.get("BENCH_PARTWAY_LOG_LEVEL", "warning"),
        "PARTWAY_MAX_OPEN_SESSIONS": "100000",
        **(extra or {}),
    }
    key = subprocess.run(
        [sys.executable, "-m", "partway", "keys", "create", "--init", "--app-id", "bench"],
        env={**os.environ, **env},
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    server = start([sys.executable, "-m", "partway", "serve", "--port", "{port}"], env, log)
    return server, key


@dataclass
class Peaks:
    """The highest values a Sampler saw, and how many samples it took."""

    threads: int = 0
    rss: int = 0
    fds: int = 0
    samples: int = 0
    series: list[tuple[float, int, int, int, float]] = field(default_factory=list)


class Sampler:
    """Samples a process every `every` seconds in a thread of its own: threads, RSS, open
    descriptors and CPU seconds; `stop` returns the peaks (and the series: seconds since start,
    threads, RSS, descriptors, CPU)."""

    def __init__(self, pid: int, every: float = 0.5) -> None:
        self._proc = psutil.Process(pid)
        self._every = every
        self._stopping = threading.Event()
        self._peaks = Peaks()
        self._began = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        try:
            with self._proc.oneshot():
                threads = self._proc.num_threads()
                rss = self._proc.memory_info().rss
                fds = self._proc.num_fds()
                times = self._proc.cpu_times()
        except psutil.Error:
            return  # gone: the caller finds out on its own
        p = self._peaks
        p.threads, p.rss, p.fds = max(p.threads, threads), max(p.rss, rss), max(p.fds, fds)
        p.samples += 1
        cpu = float(times.user + times.system)
        p.series.append((round(time.monotonic() - self._began, 2), threads, rss, fds, cpu))

    def _run(self) -> None:
        while True:
            self._sample()
            if self._stopping.wait(self._every):
                return

    def stop(self) -> Peaks:
        self._stopping.set()
        self._thread.join()
        self._sample()
        return self._peaks


def pre_touch(size: int) -> None:
    """Fault in `size` bytes of fresh memory so the VM backs it before the timed run."""
    buf = bytearray(size)
    buf[::4096] = b"\x01" * len(range(0, size, 4096))
    del buf


def run_client(protocol: str, url: str, path: Path, *args: str) -> dict[str, Any]:
    """The client's result: its `seconds` count from its first request (no process start),
    `process_seconds` its whole process, start and exit included, as `partway upload` is
    timed (bench/__main__.py, uploader_row)."""
    began = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "bench.client", protocol, "--url", url, "--file", str(path), *args],
        capture_output=True,
        text=True,
    )
    if out.returncode:
        last = out.stderr.strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"bench client ({protocol}) exited {out.returncode}: {last[0]}")
    result: dict[str, Any] = json.loads(out.stdout)
    result["process_seconds"] = time.perf_counter() - began
    return result


@dataclass
class Row:
    name: str
    group: str
    mbps: list[float] = field(default_factory=list)
    server_cpu_per_gib: list[float] = field(default_factory=list)
    client_cpu_per_gib: list[float] = field(default_factory=list)
    peak_rss: int = 0
    verified: str = "n/a"
    note: str = ""
    failed: str = ""  # why an upload failed (a run that failed adds no figures)
    bytes_each: int = 0
    # MB/s over the client's whole process (start and exit included), where it was timed
    process_mbps: list[float] = field(default_factory=list)
    # The object store's own CPU while a partway row in front of it ran (Trial.store)
    store_cpu_per_gib: list[float] = field(default_factory=list)

    def add(
        self, result: dict[str, Any], server_cpu: float, store_cpu: float | None = None
    ) -> None:
        self.bytes_each = result["bytes"]
        gib = result["bytes"] / 1024**3
        if store_cpu is not None:
            self.store_cpu_per_gib.append(store_cpu / gib)
        self.mbps.append(result["bytes"] / MB / result["seconds"])
        if "process_seconds" in result:
            self.process_mbps.append(result["bytes"] / MB / result["process_seconds"])
        self.server_cpu_per_gib.append(server_cpu / gib)
        self.client_cpu_per_gib.append(result["client_cpu"] / gib)

    @property
    def median(self) -> float:
        return statistics.median(self.mbps) if self.mbps else 0.0


def spread(values: list[float]) -> str:
    if not values:
        return "–"
    return f"{min(values):.0f}–{max(values):.0f}"


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def wait_http(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer")


class Measured(Protocol):
    """What a row measures: one server process (Server) or a cluster of them (bench/s3.py)."""

    @property
    def url(self) -> str: ...

    def cpu(self) -> float: ...

    def peak_rss(self) -> int: ...

    def stop(self) -> None: ...


@dataclass
class Trial:
    """A row waiting for its runs: its server, one measured upload, the check of what it stored."""

    row: Row
    server: Measured
    once: Callable[[], dict[str, Any]]
    check: Callable[[dict[str, Any]], bool] | None
    # The object store behind a partway row: its CPU is measured too (2 cores are shared).
    store: Measured | None = None
    ok: bool = True
