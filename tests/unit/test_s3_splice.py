"""A spliced UploadPart into a store that stops reading: the wait for its socket has the stall
deadline, and the part ends as StorageUnavailable (retryable), not a hang."""

from __future__ import annotations

import asyncio
import os
import socket
import time

import pytest

from partway.domain.errors import StorageUnavailable
from partway.storage import s3_splice

from ..bodies import MemoryBody


def test_a_store_that_stops_reading_is_a_stall_then_storage_unavailable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(s3_splice, "STALL_SECONDS", 0.5)
    monkeypatch.setattr(s3_splice, "REFUSAL_SECONDS", 0.1)
    store = socket.create_server(("127.0.0.1", 0))
    store.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    port = store.getsockname()[1]
    body = MemoryBody(os.urandom(16 * 1024 * 1024))

    async def scenario() -> float:
        began = time.monotonic()
        with pytest.raises(StorageUnavailable, match=r"took no bytes for 0\.5 s"):
            await s3_splice.write_spliced(f"http://127.0.0.1:{port}/p?x=1", body, 2**30, None)
        return time.monotonic() - began

    try:
        took = asyncio.run(scenario())
    finally:
        store.close()
    assert took < 5.0, took
    assert body.closed


def test_a_store_that_takes_the_part_and_never_answers_says_how_long_it_waited(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The timeout's own text is empty: the message must still say what happened."""
    monkeypatch.setattr(s3_splice, "STALL_SECONDS", 0.5)
    store = socket.create_server(("127.0.0.1", 0))
    port = store.getsockname()[1]
    body = MemoryBody(os.urandom(64 * 1024))

    def swallow() -> None:
        conn, _ = store.accept()
        with conn:
            while conn.recv(1 << 16):  # reads the whole request, answers nothing
                pass

    async def scenario() -> None:
        reader = asyncio.get_running_loop().run_in_executor(None, swallow)
        with pytest.raises(StorageUnavailable, match=r"no answer .* none came within 0\.5 s$"):
            await s3_splice.write_spliced(f"http://127.0.0.1:{port}/p?x=1", body, 2**30, None)
        await reader

    try:
        asyncio.run(scenario())
    finally:
        store.close()
