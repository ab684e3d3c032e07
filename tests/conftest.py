"""Shared fixtures: a real `partway serve` process on a free loopback port."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

PARTWAY = [sys.executable, "-m", "partway"]
# awscrt is installed for the tests alone (their CRC reference, tests/unit/test_crc.py), and
# botocore signs with it where it finds it: keep the servers and clients the tests start on
# botocore's own signer, as an installed partway (without awscrt) runs.
os.environ.setdefault("BOTO_DISABLE_CRT", "true")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def create_key(data_dir: Path, app_id: str, env: dict[str, str] | None = None) -> str:
    out = subprocess.run(
        [*PARTWAY, "keys", "create", "--init", "--app-id", app_id, "--data-dir", str(data_dir)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    return out.stdout.strip()


@dataclass
class Server:
    base_url: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    key: str
    app_id: str = "app-1"
    consumer_id: str = "consumer-1"
    log: Path = field(default_factory=Path)

    def headers(self, consumer: str | None = None, **extra: str) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.key}",
            "x-apideck-app-id": self.app_id,
            "x-apideck-consumer-id": consumer or self.consumer_id,
            **extra,
        }

    def client(self, consumer: str | None = None) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, headers=self.headers(consumer), timeout=60)


def launch(
    data_dir: Path, port: int, log: Path, extra_env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start `partway serve` on data_dir and wait until it answers."""
    env = {**os.environ, "PARTWAY_DATA_DIR": str(data_dir), **(extra_env or {})}
    with log.open("ab") as out:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(
            [*PARTWAY, "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()[-3000:]}")
        try:
            httpx.get(base_url + "/file-storage/drives", timeout=1)
            return process
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("server did not start")


def start_server(tmp: Path, extra_env: dict[str, str] | None = None) -> Server:
    data_dir = tmp / "data"
    env = {**os.environ, "PARTWAY_DATA_DIR": str(data_dir), **(extra_env or {})}
    key = create_key(data_dir, "app-1", env)
    port = free_port()
    log = tmp / "server.log"
    process = launch(data_dir, port, log, extra_env)
    return Server(f"http://127.0.0.1:{port}", data_dir, process, key, log=log)


def relaunch(server: Server, log: Path, extra_env: dict[str, str] | None = None) -> Server:
    """Another `partway serve` on the server's data directory (and keys), on a port of its own."""
    port = free_port()
    process = launch(server.data_dir, port, log, extra_env)
    return Server(f"http://127.0.0.1:{port}", server.data_dir, process, server.key, log=log)


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(10)
    except subprocess.TimeoutExpired:
        server.process.kill()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("srv"))
    yield srv
    stop_server(srv)
    assert_clean_log(srv)


def log_events(srv: Server) -> list[dict[str, Any]]:
    """The server's JSON log lines (it logs JSON when its output is not a terminal)."""
    return json_lines(srv.log.read_text(errors="replace"))


def json_lines(text: str) -> list[dict[str, Any]]:
    """The JSON lines of a server's log text, the whole ones only: a read can catch a line the
    server is still writing (half of it), which is left for the next read."""
    whole = text[: text.rfind("\n") + 1]
    return [json.loads(line) for line in whole.splitlines() if line.startswith("{")]


def wait_for_log_event(
    srv: Server, wanted: Callable[[dict[str, Any]], bool], timeout: float = 5.0, skip: int = 0
) -> dict[str, Any]:
    """The first log event `wanted` accepts, past the first `skip` events, waiting for it: a
    request's log line is written after its response has been sent, so a client can read the
    log before it is there."""
    deadline = time.monotonic() + timeout
    while True:
        found = next((e for e in log_events(srv)[skip:] if wanted(e)), None)
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise AssertionError("no such event in the server's log")
        time.sleep(0.05)


def assert_clean_log(srv: Server) -> None:
    """No request may have ended in an unhandled exception or a 500."""
    text = srv.log.read_text(errors="replace")
    assert "Traceback" not in text, text[-5000:]
    bad = [e for e in log_events(srv) if e.get("status") == 500 or "exception" in e]
    assert not bad, bad[:3]
