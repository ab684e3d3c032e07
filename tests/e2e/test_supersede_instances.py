"""Two `partway serve` processes on one PostgreSQL and one S3 store (issue #19): a newer request
at one instance stops an append still running for the upload at the other, within seconds
rather than the body deadline, as the draft asks "on one instance and across instances". And
a tus upload goes through both instances alternately."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.backends import make_backend
from tests.conftest import Server, assert_clean_log, free_port, launch, start_server, stop_server
from tests.e2e.raw import Raw, request_head
from tests.e2e.tus_helpers import OCTETS, TUS, append, create, metadata, stored

pytestmark = pytest.mark.edge_protocol

PARTIAL = {"Content-Type": "application/partial-upload"}
DRAFT = {"Upload-Draft-Interop-Version": "6"}
# Well under the 60 s body deadline: what "promptly" means here.
PROMPT_SECONDS = 10.0


@dataclass
class Pair:
    a: Server
    b_url: str

    def clients(self, **headers: str) -> tuple[httpx.Client, httpx.Client]:
        a = httpx.Client(base_url=self.a.base_url, headers={**self.a.headers(), **headers})
        b = httpx.Client(base_url=self.b_url, headers={**self.a.headers(), **headers})
        a.timeout = b.timeout = httpx.Timeout(60)
        return a, b


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    tmp_path = tmp_path_factory.mktemp("pair")
    backend = make_backend("s3+postgres", tmp_path)
    env = {**backend.env(), "PARTWAY_BODY_MIN_RATE": "0"}  # a trickle is not cut early
    first = start_server(tmp_path, env)
    port = free_port()
    second = launch(first.data_dir, port, tmp_path / "second.log", env)
    try:
        yield Pair(first, f"http://127.0.0.1:{port}")
    finally:
        stop_server(first)
        second.terminate()
        second.wait(10)
        backend.dispose()
    assert_clean_log(first)


class Trickle:
    """A request whose head and first bytes go out at once, then a few bytes now and then,
    from a client the server should give up on."""

    def __init__(self, server: Server, head: bytes, body: bytes) -> None:
        self.raw = Raw(server)
        self.raw.sock.sendall(head + body[:200_000])
        self._rest = body[200_000:]
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for i in range(0, len(self._rest), 100):
                self.raw.sock.sendall(self._rest[i : i + 100])
                time.sleep(0.2)
        except OSError:
            pass  # shut by the server: expected

    def was_shut(self) -> bool:
        self.raw.sock.settimeout(10)
        try:
            while self.raw.sock.recv(65536):
                pass  # an interim 1xx, if the server sent one
        except TimeoutError:
            return False
        except OSError:
            return True  # reset
        return True

    def close(self) -> None:
        self.raw.sock.close()
        self._thread.join(10)


def test_a_tus_head_and_patch_at_b_stop_a_trickling_patch_at_a(pair: Pair) -> None:
    payload = os.urandom(1024 * 1024 + 7)
    a, b = pair.clients(**TUS)
    with a, b:
        url = create(a, "tus-superseded.bin", **{"Upload-Length": str(len(payload))})
        path = httpx.URL(url).path
        assert append(a, path, 0, payload[:100_000]).status_code == 204
        head = request_head(
            pair.a.headers(),
            "PATCH",
            path,
            len(payload) - 100_000,
            **TUS,
            **OCTETS,
            **{"Upload-Offset": "100000"},
        )
        older = Trickle(pair.a, head, payload[100_000:])
        try:
            time.sleep(1.5)  # the append is under way at A, holding its locks
            started = time.monotonic()
            res = b.head(path)
            assert res.status_code == 200, res.text
            offset = int(res.headers["upload-offset"])
            assert offset == 100_000  # the stopped append's bytes were not recorded
            res = append(b, path, offset, payload[offset:])
            assert res.status_code == 204, res.text
            assert res.headers["upload-offset"] == str(len(payload))
            assert time.monotonic() - started < PROMPT_SECONDS
            assert older.was_shut()
        finally:
            older.close()
        assert stored(a, "tus-superseded.bin") == payload


def trickling_draft(
    pair: Pair, a: httpx.Client, name: str, payload: bytes, sent: int
) -> tuple[str, Trickle]:
    """A draft upload of `payload` created at A with its first `sent` bytes, the rest
    trickling into A on a raw connection: its path and the trickle."""
    res = a.post(
        "/uploads",
        content=payload[:sent],
        headers={
            "Upload-Complete": "?0",
            "Upload-Metadata": metadata(filename=name),
            "Upload-Length": str(len(payload)),
        },
    )
    assert res.status_code == 201, res.text
    path = httpx.URL(res.headers["location"]).path
    head = request_head(
        pair.a.headers(),
        "PATCH",
        path,
        len(payload) - sent,
        **DRAFT,
        **PARTIAL,
        **{"Upload-Offset": str(sent), "Upload-Complete": "?1"},
    )
    return path, Trickle(pair.a, head, payload[sent:])


def test_a_draft_head_and_append_at_b_stop_a_trickling_append_at_a(pair: Pair) -> None:
    payload = os.urandom(1024 * 1024 + 11)
    name = "draft-superseded.bin"
    a, b = pair.clients(**DRAFT)
    with a, b:
        path, older = trickling_draft(pair, a, name, payload, 1000)
        try:
            time.sleep(1.5)
            started = time.monotonic()
            res = b.head(path)
            assert res.status_code == 204, res.text
            assert res.headers["upload-complete"] == "?0"
            offset = int(res.headers["upload-offset"])
            assert offset == 1000
            res = b.patch(
                path,
                content=payload[offset:],
                headers={**PARTIAL, "Upload-Offset": str(offset), "Upload-Complete": "?1"},
            )
            assert res.status_code == 200, res.text
            assert res.headers["upload-offset"] == str(len(payload))
            assert time.monotonic() - started < PROMPT_SECONDS
            assert older.was_shut()
        finally:
            older.close()
        assert stored(a, name) == payload


def test_a_draft_append_at_b_alone_stops_a_trickling_append_at_a(pair: Pair) -> None:
    """No HEAD first: the newer append itself stops the older one, then waits for nothing."""
    payload = os.urandom(600_000)
    name = "draft-append-superseded.bin"
    a, b = pair.clients(**DRAFT)
    with a, b:
        path, older = trickling_draft(pair, a, name, payload, 0)
        try:
            time.sleep(1.5)
            started = time.monotonic()
            res = b.patch(
                path,
                content=payload,
                headers={**PARTIAL, "Upload-Offset": "0", "Upload-Complete": "?1"},
            )
            assert res.status_code == 200, res.text
            assert time.monotonic() - started < PROMPT_SECONDS
            assert older.was_shut()
        finally:
            older.close()
        assert stored(a, name) == payload


def test_a_tus_upload_alternates_between_instances(pair: Pair) -> None:
    payload = os.urandom(3 * 1024 * 1024 + 5)
    a, b = pair.clients(**TUS)
    with a, b:
        url = create(a, "tus-alternating.bin", **{"Upload-Defer-Length": "1"})
        path = httpx.URL(url).path
        step = 700_000
        for n, start in enumerate(range(0, len(payload), step)):
            here, there = (a, b) if n % 2 else (b, a)
            res = there.head(path)
            assert res.status_code == 200, res.text
            assert int(res.headers["upload-offset"]) == start
            chunk = payload[start : start + step]
            last = start + len(chunk) == len(payload)
            extra = {"Upload-Length": str(len(payload))} if last else {}
            res = append(here, path, start, chunk, **extra)
            assert res.status_code == 204, res.text
            assert res.headers["upload-offset"] == str(start + len(chunk))
        res = b.head(path)
        assert res.headers["upload-offset"] == res.headers["upload-length"] == str(len(payload))
        assert stored(b, "tus-alternating.bin") == payload
