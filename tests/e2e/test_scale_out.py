"""Two `partway serve` processes on one PostgreSQL and one object store (S3 on Ceph RGW or moto;
Azure Blob on Azurite), no stickiness."""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.backends import make_backend
from tests.conftest import assert_clean_log, free_port, launch, start_server, stop_server

from .helpers import MIB, create_session, finish, get_session, metric, put_part, sha1_header

PART = 5 * MIB


@pytest.mark.parametrize("combination", ["s3+postgres", "azure+postgres"])
def test_any_instance_serves_any_call_and_survives_losing_one(
    tmp_path: Path, combination: str
) -> None:
    backend = make_backend(combination, tmp_path)
    env = {**backend.env(), "PARTWAY_DEFAULT_PART_SIZE": str(PART)}
    first = start_server(tmp_path, env)
    port = free_port()
    second = launch(first.data_dir, port, tmp_path / "second.log", env)
    other = f"http://127.0.0.1:{port}"
    try:
        with (
            first.client() as a,
            httpx.Client(base_url=other, headers=first.headers(), timeout=60) as b,
        ):
            # With PostgreSQL a turn also waits on SQL round trips: 4 slots by default.
            assert metric(a, "partway_request_slots", what="slots") == 4
            # Parts alternate between the instances; the other one finishes.
            payload = os.urandom(4 * PART + 999)
            session_id = create_session(a, "shared.bin", len(payload))
            chunks = [payload[i : i + PART] for i in range(0, len(payload), PART)]
            for n, chunk in enumerate(chunks):
                res = put_part(b if n % 2 else a, session_id, n, chunk, digest=sha1_header(chunk))
                assert res.status_code == 200, res.text
            assert get_session(a, session_id)["uploaded_parts"] == list(range(len(chunks)))
            done = finish(b, session_id)
            assert done.status_code == 201, done.text
            file_id = done.json()["data"]["id"]
            got = a.get(f"/file-storage/files/{file_id}/download")
            assert hashlib.sha256(got.content).digest() == hashlib.sha256(payload).digest()

            # One instance dies in the middle of a part; the survivor takes over.
            payload = os.urandom(3 * PART)
            session_id = create_session(a, "survivor.bin", len(payload))
            assert put_part(b, session_id, 0, payload[:PART]).status_code == 200
            cut = _start_slow_part(other, first.headers(), session_id, 1, payload[PART : 2 * PART])
            time.sleep(0.5)
            second.send_signal(signal.SIGKILL)
            second.wait(10)
            cut.join(30)
            assert get_session(a, session_id)["uploaded_parts"] == [0]  # killed mid-part
            # The dead instance held part 1's lock on its database connection: it is gone too.
            for n in (1, 2):
                res = put_part(a, session_id, n, payload[n * PART : (n + 1) * PART])
                assert res.status_code == 200, res.text
            done = finish(a, session_id)
            assert done.status_code == 201, done.text
            got = a.get(f"/file-storage/files/{done.json()['data']['id']}/download")
            assert hashlib.sha256(got.content).digest() == hashlib.sha256(payload).digest()
    finally:
        stop_server(first)
        if second.poll() is None:
            second.terminate()
            second.wait(10)
        backend.dispose()
    assert_clean_log(first)


def _start_slow_part(
    base_url: str, headers: dict[str, str], session_id: str, number: int, data: bytes
) -> threading.Thread:
    """Send a part slowly in the background; the connection is expected to break."""

    def trickle() -> Iterator[bytes]:
        for i in range(0, len(data), 256 * 1024):
            yield data[i : i + 256 * 1024]
            time.sleep(0.05)

    def send() -> None:
        with contextlib.suppress(httpx.TransportError):
            httpx.put(
                f"{base_url}/file-storage/upload-sessions/{session_id}",
                params={"part_number": number},
                content=trickle(),
                headers={**headers, "Content-Length": str(len(data))},
                timeout=30,
            )

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread
