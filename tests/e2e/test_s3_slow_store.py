"""A slow object store holds no body thread (issue #20): parts spliced into UploadPart wait for
the store's socket on the body pump, as bodies wait for their clients. More slow parts than the
server has body threads are in flight to an S3 store behind a relay that reads at a trickle,
while uploads to the local disk, and another tenant's calls, are still answered at once."""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
import pytest

from tests.backends import new_s3_url
from tests.conftest import Server, assert_clean_log, start_server, stop_server
from tests.slow_relay import SlowRelay

from .helpers import MIB, SESSIONS, create_session, download, finish, get_session, put_part
from .raw import Raw

BODY_THREADS = 4
SLOW_PARTS = BODY_THREADS + 2
PART = 6 * MIB
# What the store takes from each part while slow: 6 MiB would take ~100 s.
TRICKLE_RATE = 64 * 1024
PROMPT = 2.0

T = TypeVar("T")


@pytest.fixture
def relay() -> Iterator[SlowRelay]:
    endpoint = urlsplit(new_s3_url().split("endpoint_url=", 1)[1])
    relay = SlowRelay((endpoint.hostname or "", endpoint.port or 80), TRICKLE_RATE)
    yield relay
    relay.close()


@contextlib.contextmanager
def serving(tmp_path: Path, relay: SlowRelay, **env: str) -> Iterator[Server]:
    """A server with a local-disk service (the default) and an S3 one behind `relay`."""
    s3 = new_s3_url().split("?", 1)[0] + f"?endpoint_url={relay.endpoint}"
    stores = {"disk": str(tmp_path / "disk"), "s3": s3}
    settings = {
        "PARTWAY_STORAGE": json.dumps(stores),
        "PARTWAY_DEFAULT_SERVICE": "disk",
        "PARTWAY_BODY_THREADS": str(BODY_THREADS),
        **{f"PARTWAY_{k.upper()}": v for k, v in env.items()},
    }
    srv = start_server(tmp_path, settings)
    try:
        yield srv
    finally:
        stop_server(srv)
    assert_clean_log(srv)


@pytest.fixture
def server(tmp_path: Path, relay: SlowRelay) -> Iterator[Server]:
    with serving(tmp_path, relay) as srv:
        yield srv


def send_part(
    srv: Server, session_id: str, data: bytes, answers: list[int], length: int = PART
) -> None:
    """One part PUT of `length` bytes with no digest (so spliced into UploadPart): `data`
    written whole (then silence, if shorter); its status."""
    raw = Raw(srv, "slow")
    raw.sock.settimeout(300)
    raw.headers["x-apideck-service-id"] = "s3"
    path = f"{SESSIONS}/{session_id}?part_number=0"
    raw.sock.sendall(raw.head("PUT", path, length) + data)
    status, _, _ = raw.response()
    answers.append(status)
    raw.sock.close()


def s3_client(srv: Server) -> httpx.Client:
    client = srv.client("slow")
    client.headers["x-apideck-service-id"] = "s3"
    return client


def test_slow_store_parts_hold_no_body_thread(server: Server, relay: SlowRelay) -> None:
    data = os.urandom(PART)
    with s3_client(server) as slow:
        sessions = [create_session(slow, f"slow-{n}.bin", PART) for n in range(SLOW_PARTS)]
    relay.slow.set()
    answers: list[int] = []
    senders = [
        threading.Thread(target=send_part, args=(server, sid, data, answers), daemon=True)
        for sid in sessions
    ]
    took: list[float] = []

    def timed(call: Callable[..., T], *args: Any) -> T:
        began = time.monotonic()
        try:
            result = call(*args)
        except httpx.TimeoutException:
            raise AssertionError("a local upload call had no answer in 10 s") from None
        took.append(time.monotonic() - began)
        return result

    try:
        for sender in senders:
            sender.start()
        time.sleep(2)  # every part is in the store's socket, waiting for the trickle
        assert not answers, answers
        local = os.urandom(MIB)
        with server.client("other") as other:
            other.timeout = httpx.Timeout(10)
            for n in range(3):
                sid = timed(create_session, other, f"local-{n}.bin", len(local))
                timed(get_session, other, sid)
                assert timed(put_part, other, sid, 0, local).status_code == 200
                assert timed(finish, other, sid).status_code == 201
        assert not answers, "the slow parts ended early: the relay did not hold them up"
    finally:
        relay.slow.clear()
        for sender in senders:
            sender.join(120)
    slowest = max(took)
    assert slowest < PROMPT, f"a local upload call took {slowest:.2f} s behind slow-store parts"
    assert answers == [200] * SLOW_PARTS
    with s3_client(server) as slow:
        done = finish(slow, sessions[0])
        assert done.status_code == 201, done.text
        assert download(slow, done.json()["data"]["id"]).content == data


def test_client_deadlines_still_cut_spliced_parts_but_not_for_a_slow_store(
    tmp_path: Path, relay: SlowRelay
) -> None:
    """With a 1 s idle timeout: a part held up longer than that by the slow store is stored
    (the wait was the store's), a part whose client goes silent gets its 408, and that
    session takes the part again (nothing recorded, its lock released)."""
    data = os.urandom(PART)
    with serving(tmp_path, relay, body_timeout_seconds="1") as srv:
        with s3_client(srv) as slow:
            whole, cut = (create_session(slow, f"{n}.bin", PART) for n in ("whole", "cut"))
        answers: dict[str, list[int]] = {"whole": [], "cut": []}
        relay.slow.set()
        senders = [
            threading.Thread(target=send_part, args=(srv, whole, data, answers["whole"])),
            threading.Thread(target=send_part, args=(srv, cut, data[:MIB], answers["cut"])),
        ]
        for sender in senders:
            sender.start()
        time.sleep(3)
        relay.slow.clear()
        for sender in senders:
            sender.join(60)
        assert answers == {"whole": [200], "cut": [408]}
        with s3_client(srv) as slow:
            assert put_part(slow, cut, 0, data).status_code == 200
            for sid in (whole, cut):
                done = finish(slow, sid)
                assert done.status_code == 201, done.text
                assert download(slow, done.json()["data"]["id"]).content == data
