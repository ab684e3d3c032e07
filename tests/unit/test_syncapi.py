"""client/syncapi.py against a socket server of the test's own."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import httpx
import pytest

from partway.client import upload
from partway.client.models import Credentials
from partway.client.retry import RetryPolicy
from partway.client.syncapi import SyncApi
from tests.sockets import handle_each


def test_stop_ends_a_call_waiting_to_retry() -> None:
    """An upload stopped (its upload_async cancelled) while the server answers 503 with a long
    Retry-After: the call ends at once instead of after the retries."""
    busy = b"HTTP/1.1 503 Service Unavailable\r\nretry-after: 30\r\ncontent-length: 2\r\n\r\n{}"

    def answer(conn: socket.socket) -> None:
        while conn.recv(65536):
            conn.sendall(busy)

    with socket.create_server(("127.0.0.1", 0)) as listener:
        handle_each(listener, answer)
        api = SyncApi(
            f"http://127.0.0.1:{listener.getsockname()[1]}",
            Credentials("k", "a", "c"),
            retry=RetryPolicy(attempts=5, maximum=30),
        )
        threading.Timer(0.2, api.stop).start()
        began = time.monotonic()
        with pytest.raises(InterruptedError):
            api.get_session("ses_1")
        api.close()
    assert time.monotonic() - began < 5


def test_the_library_upload_fails_at_once_where_nothing_answers_http(tmp_path: Path) -> None:
    """upload() pointed at a port that hangs up on every request (a TLS port taken for plain
    HTTP does): one try of its first request, as the command line, not minutes of retries of
    an answer that might have been lost."""
    source = tmp_path / "f.bin"
    source.write_bytes(b"x" * 1000)

    def hang_up(conn: socket.socket) -> None:
        conn.recv(65536)

    with socket.create_server(("127.0.0.1", 0)) as listener:
        handle_each(listener, hang_up)
        began = time.monotonic()
        with pytest.raises(httpx.TransportError):
            upload(
                source,
                server=f"http://127.0.0.1:{listener.getsockname()[1]}",
                credentials=Credentials("k", "a", "c"),
                state_dir=tmp_path / "state",
            )
    assert time.monotonic() - began < 5
    assert not list((tmp_path / "state").glob("*.json"))  # no record of a session never made
