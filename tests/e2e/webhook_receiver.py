"""Starting the receiver process (receiver.py) and reading what it got, for the e2e tests."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import free_port

SECRET = "whsec_" + base64.b64encode(b"partway-test-signing-key-32bytes").decode()


@dataclass
class Receiver:
    directory: Path
    url: str
    process: subprocess.Popen[bytes]

    def behave(self, behaviour: dict[str, dict[str, Any]]) -> None:
        temporary = self.directory / "behaviour.json.tmp"
        temporary.write_text(json.dumps(behaviour))
        temporary.replace(self.directory / "behaviour.json")  # never read half-written

    def requests(self, path: str | None = None) -> list[dict[str, Any]]:
        log = self.directory / "requests.jsonl"
        if not log.exists():
            return []
        found = [json.loads(line) for line in log.read_text().splitlines() if line]
        return [r for r in found if path is None or r["path"] == path]

    def wait_for(
        self, done: Callable[[list[dict[str, Any]]], bool], path: str, timeout: float = 60.0
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.requests(path)
            if done(got):
                return got
            time.sleep(0.1)
        raise AssertionError(f"receiver did not get what was expected: {self.requests(path)}")


@contextmanager
def receiver(directory: Path, port: int | None = None) -> Iterator[Receiver]:
    """A receiver process on `port` (a free one by default); its log starts empty only when
    it is new, so a receiver restarted on the same directory keeps what it got (readiness
    probes are logged as /ping)."""
    directory.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    script = Path(__file__).with_name("receiver.py")
    process = subprocess.Popen([sys.executable, str(script), str(directory), str(port)])
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while True:
        try:
            httpx.post(url + "/ping", timeout=1)
            break
        except httpx.TransportError:
            if time.monotonic() > deadline:
                process.kill()
                raise
            time.sleep(0.05)
    try:
        yield Receiver(directory, url, process)
    finally:
        process.terminate()
        process.wait(10)


def webhook_env(url: str, **settings: str) -> dict[str, str]:
    """A server's environment delivering every event to `url`, with quick retries."""
    endpoints = {"main": {"url": url, "secret": SECRET}}
    return {
        "PARTWAY_WEBHOOKS": json.dumps(endpoints),
        "PARTWAY_WEBHOOK_POLL_SECONDS": "0.1",
        "PARTWAY_WEBHOOK_BACKOFF_BASE_SECONDS": "0.2",
        "PARTWAY_WEBHOOK_BACKOFF_MAX_SECONDS": "1",
        "PARTWAY_WEBHOOK_TIMEOUT_SECONDS": "2",
        **settings,
    }


def events(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [json.loads(r["body"])["payload"] for r in requests]


def environ(extra: dict[str, str]) -> dict[str, str]:
    return {**os.environ, **extra}
