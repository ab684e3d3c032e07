"""client/syncapi.py against a socket server of the test's own."""

from __future__ import annotations

import socket
import threading
import time

import pytest

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
