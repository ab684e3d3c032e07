"""Sending parts straight into the object store over the URLs partway signed (direct parts).

The same journey as parts.py's (file → reused buffer → socket, in one worker thread), but to
another host: its own connection pool, and never partway's credentials (the URL carries its
own authorisation)."""

from __future__ import annotations

import base64
import hashlib
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, cast

import httpx

from ..domain.crc import crc32c_of
from ..wire import crc32c_base64
from .models import DirectPartRefused, Reply
from .parts import FileShrank, PartBuffer, _slices
from .retry import Retrying, RetryPolicy

__all__ = ["DirectPartRefused", "DirectSender", "PartRead"]


@dataclass(frozen=True)
class PartRead:
    view: memoryview
    md5: str  # base64, as the claim and Content-MD5 carry it
    crc: int

    def claim(self, number: int) -> dict[str, Any]:
        return {"part_number": number, "md5": self.md5, "crc32c": crc32c_base64(self.crc)}


class DirectSender:
    """Thread-safe: one pool of keep-alive connections to the store for every worker thread."""

    def __init__(
        self, retry: RetryPolicy | None = None, on_retry: Callable[[str, float], None] | None = None
    ) -> None:
        self._http = httpx.Client(
            timeout=httpx.Timeout(60.0, connect=10.0),
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
        )
        # Set once the upload stops: no retries, no more parts (its claims' retries end too).
        self.stopping = threading.Event()
        self._retrying = Retrying(retry or RetryPolicy(), on_retry, self.stopping)

    @staticmethod
    def read_part(fd: int, buffer: PartBuffer, offset: int, length: int) -> PartRead:
        """Read a part's bytes into `buffer` and checksum them: the MD5 the store is made to
        check on arrival (bound into the URL), the CRC32C for the whole file's digest."""
        view = memoryview(buffer)[:length]
        if os.preadv(fd, [view], offset) != length:
            raise FileShrank("the file is shorter than when the upload began")
        md5 = base64.b64encode(hashlib.md5(view, usedforsecurity=False).digest()).decode()
        crc = crc32c_of(view)
        return PartRead(view, md5, crc)

    def send(self, view: memoryview, part: dict[str, Any]) -> None:
        """PUT the part's bytes (read by read_part) to its signed URL."""
        length = len(view)
        headers = {**part.get("headers", {}), "content-length": str(length)}

        def once() -> Reply:
            content = cast(Iterable[bytes], _slices(view))
            return self._http.put(part["url"], content=content, headers=headers)

        res = self._retrying.send(once, f"part {part['part_number']}")
        if not 200 <= res.status_code < 300:
            raise DirectPartRefused(part["part_number"], res.status_code, res.text)

    def stop(self) -> None:
        """Let parts in flight end, but retry none of them (nor start more: `stopped`)."""
        self.stopping.set()

    @property
    def stopped(self) -> bool:
        return self.stopping.is_set()

    def close(self) -> None:
        self._http.close()
