"""Sending part bodies from worker threads: file → reused buffer → CRC32C or SHA-1 → socket.

Each part's whole journey runs in one worker thread on a blocking connection: the positioned
read, the hash and the socket writes all release the GIL. (When the uploader ran on asyncio,
httpx's async transport copied every byte the socket did not take at once into a buffer of its
own, and on a 2-core machine those copies and loop turns cost as much as the hashing.)
"""

from __future__ import annotations

import contextlib
import hashlib
import mmap
import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, NamedTuple, cast

from ..wire import DIGEST, SESSIONS_PATH, crc32c_digest_header, sha1_digest_header
from .digests import crc_of_mapped, part_digest
from .models import Credentials, Reply, needs_tls, raise_for_error
from .rawhttp import FileShrank, FileSpan, RawHttp
from .retry import Retrying, RetryPolicy

if TYPE_CHECKING:
    import httpx

__all__ = [
    "FileShrank",
    "PartBuffer",
    "PartJob",
    "PartSender",
    "part_buffer",
    "send_in_turn",
    "sha1_digest",
]

SLICE = 1024 * 1024  # bodies go out in 1 MiB views: no part-sized copies

PartBuffer = bytearray | mmap.mmap


def part_buffer(size: int) -> mmap.mmap:
    """A worker's part-sized buffer whose pages cost memory only once written: bytearray(n)
    zero-fills every page, so four idle 8 MiB buffers held 32 MiB though CRC32C parts never
    use them."""
    return mmap.mmap(-1, max(size, 1), flags=mmap.MAP_PRIVATE)  # private: counted as RssAnon


def sha1_digest(data: bytes | memoryview) -> str:
    return sha1_digest_header(hashlib.sha1(data).digest())


class PartSender:
    """Thread-safe: one pool of keep-alive connections for every worker thread."""

    def __init__(
        self,
        base_url: str,
        credentials: Credentials,
        retry: RetryPolicy | None = None,
        on_retry: Callable[[str, float], None] | None = None,
    ) -> None:
        # Plain HTTP: bodies go out over a socket of our own (rawhttp.py); TLS: through httpx,
        # whose client is made only then (~20 ms of CPU to build, at every upload's start).
        self._raw = None if needs_tls(base_url) else RawHttp(base_url, credentials.headers())
        self._http = None if self._raw is not None else _tls_client(base_url, credentials)
        self._stopping = threading.Event()
        self._retrying = Retrying(retry or RetryPolicy(), on_retry, self._stopping)

    def send_from_file(
        self,
        fd: int,
        buffer: PartBuffer,
        session_id: str,
        number: int,
        offset: int,
        length: int,
        algorithm: str | None = "sha",
        crc: int | None = None,
        while_waiting: Callable[[], None] | None = None,
    ) -> int | None:
        """Read part `number` (`length` bytes at `offset`) into `buffer`, hash it with
        `algorithm` (None: send no digest), send it; its CRC32C if that was the algorithm.
        When `crc_ahead` applies: `crc`, the part's CRC32C if already known, and
        `while_waiting`, run once the body is sent (see RawHttp.request)."""
        if algorithm is None and self._raw is not None:
            # Nothing to hash: the kernel moves the bytes from the file to the socket.
            self.send(session_id, number, FileSpan(fd, offset, length), None)
            return None
        if algorithm == "crc32c" and self._raw is not None:
            # CRC'd where they lie (a mapping), then sent by the kernel: no copy in Python.
            try:
                mapped = crc_of_mapped(fd, offset, length) if crc is None else crc
            except ValueError:  # mmap: the range now passes the end of the file
                raise FileShrank("the file is shorter than when the upload began") from None
            span = FileSpan(fd, offset, length)
            self.send(session_id, number, span, crc32c_digest_header(mapped), while_waiting)
            return mapped
        view = memoryview(buffer)[:length]
        if os.preadv(fd, [view], offset) != length:
            raise FileShrank("the file is shorter than when the upload began")
        if algorithm is None:
            self.send(session_id, number, view, None)
            return None
        header, crc = part_digest(algorithm, view)
        self.send(session_id, number, view, header)
        return crc

    def crc_ahead(self, algorithm: str | None) -> bool:
        """Whether send_from_file takes a part's CRC32C computed beforehand (CRC32C parts sent
        from the file): a worker computes its next part's while the server stores this one."""
        return algorithm == "crc32c" and self._raw is not None

    def send(
        self,
        session_id: str,
        number: int,
        body: memoryview | FileSpan,
        digest: str | None,
        while_waiting: Callable[[], None] | None = None,
    ) -> None:
        length = body.length if isinstance(body, FileSpan) else len(body)
        headers = {"content-type": "application/octet-stream", "content-length": str(length)}
        if digest:
            headers[DIGEST] = digest
        path = f"{SESSIONS_PATH}/{session_id}"
        hooks = [while_waiting]  # once: not again on a retry

        def once() -> Reply:
            return self._put(path, number, body, headers, hooks.pop() if hooks else None)

        raise_for_error(self._retrying.send(once, f"part {number}"))

    def _put(
        self,
        path: str,
        number: int,
        body: memoryview | FileSpan,
        headers: dict[str, str],
        while_waiting: Callable[[], None] | None = None,
    ) -> Reply:
        params = {"part_number": str(number)}
        if self._raw is not None:
            return self._raw.request("PUT", path, params, headers, body, while_waiting)
        assert isinstance(body, memoryview)  # a FileSpan is only made for the raw path
        assert self._http is not None  # made whenever there is no raw path
        # httpx sends any bytes-like chunk; its annotation only says bytes.
        content = cast(Iterable[bytes], _slices(body))
        return self._http.put(path, params=params, content=content, headers=headers)

    def stop(self) -> None:
        """End the upload's parts: none is retried or started (`stopped`), and over plain HTTP
        those in flight end at once (InterruptedError), however long a frozen server would keep
        them waiting. (Over TLS, httpx's, they end at their next answer or timeout.)"""
        self._stopping.set()
        if self._raw is not None:
            self._raw.abort()

    @property
    def stopped(self) -> bool:
        return self._stopping.is_set()

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
        if self._raw is not None:
            self._raw.close_all()


class PartJob(NamedTuple):
    """What every part of one upload's sending shares."""

    fd: int
    part_size: int
    session_id: str
    algorithm: str | None


def send_in_turn(
    sender: PartSender,
    pending: deque[int],
    range_of: Callable[[int], tuple[int, int]],
    job: PartJob,
    on_sent: Callable[[int, int, int | None], object],
) -> None:
    """A worker thread's share of the parts: it takes the next number from `pending` (shared
    by the workers) until none is left or the sender stops, sends it, and reports (number,
    length, CRC32C or None) to `on_sent` (from this thread), one part after another.
    CRC32C parts: the next part's CRC is computed while the server stores this one (~1.4 ms
    a part the worker would otherwise spend between its parts)."""
    buffer = part_buffer(job.part_size)
    taken: list[int] = []  # the next part, taken early to CRC it
    crcs_ahead: dict[int, int] = {}

    def next_part() -> int | None:
        if taken:
            return taken.pop()
        try:
            return pending.popleft()
        except IndexError:
            return None

    def crc_next() -> None:  # must not raise: see RawHttp.request
        number = next_part()
        if number is not None:
            taken.append(number)
            start, length = range_of(number)
            with contextlib.suppress(OSError, ValueError):  # its turn computes it, and fails
                crcs_ahead[number] = crc_of_mapped(job.fd, start, length)

    ahead = crc_next if sender.crc_ahead(job.algorithm) else None
    while not sender.stopped and (number := next_part()) is not None:
        start, length = range_of(number)
        crc = sender.send_from_file(
            job.fd,
            buffer,
            job.session_id,
            number,
            start,
            length,
            job.algorithm,
            crcs_ahead.pop(number, None),
            ahead,
        )
        on_sent(number, length, crc)


def _tls_client(base_url: str, credentials: Credentials) -> httpx.Client:
    import httpx

    return httpx.Client(
        base_url=base_url,
        headers=credentials.headers(),
        timeout=httpx.Timeout(60.0, connect=10.0),
        limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
    )


def _slices(body: memoryview) -> Iterator[memoryview]:
    for start in range(0, len(body), SLICE):
        yield body[start : start + SLICE]
    if not body:
        yield body
