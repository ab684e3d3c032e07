"""Processes under measurement: start a server, sample its CPU and peak RSS, stop it."""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

MIB = 1024 * 1024
MB = 1000 * 1000


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


def pre_touch(size: int) -> None:
    """Fault in `size` bytes of fresh memory so the VM backs it before the timed run."""
    buf = bytearray(size)
    buf[::4096] = b"\x01" * len(range(0, size, 4096))
    del buf


def run_client(protocol: str, url: str, path: Path, *args: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.client", protocol, "--url", url, "--file", str(path), *args],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, Any] = json.loads(out.stdout)
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

    def add(self, result: dict[str, Any], server_cpu: float) -> None:
        gib = result["bytes"] / 1024**3
        self.mbps.append(result["bytes"] / MB / result["seconds"])
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


@dataclass
class Trial:
    """A row waiting for its runs: its server, one measured upload, the check of what it stored."""

    row: Row
    server: Server
    once: Callable[[], dict[str, Any]]
    check: Callable[[dict[str, Any]], bool] | None
    ok: bool = True
