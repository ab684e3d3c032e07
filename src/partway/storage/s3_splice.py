"""A part's bytes spliced from the client's socket into UploadPart: socket → pipe → socket
inside the kernel, never through Python.

Why: proxied through httpx, each byte of a part was read into a bytes object and written out
again, and every ~1 MiB cost Python work in the body pump, httpx, h11 and anyio; partway spent
1.8 CPU s/GiB proxying to Ceph RGW, CPU the store itself needs on a small machine. This path
is taken for a body read straight from the connection, of known length, with no digest to
compute on the way, to a plain-HTTP endpoint (splice cannot write into TLS); anything else goes
through httpx (storage/s3.py). The request is one presigned UploadPart PUT on a connection of
its own: its head is three lines, its answer parsed by httptools (uvicorn's parser).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable
from urllib.parse import urlsplit

import httptools

from ..domain.errors import NotFound, StorageUnavailable, WrongPartSize
from ..domain.ports import DirectBody, Source, Steps, Written

CONNECT_SECONDS = 10.0
# How long the store may hold a part's body or its answer back (httpx's timeout on the other path).
STALL_SECONDS = 120.0
ANSWER_READ = 64 * 1024
# An error answer's text kept for the message.
ERROR_TEXT = 200
# How long a store that cut a part off has to say why.
REFUSAL_SECONDS = 5.0


def spliceable(url: str, source: Source) -> DirectBody | None:
    """The source as a body to splice into `url`, if this path can take it."""
    if urlsplit(url).scheme != "http" or isinstance(source, AsyncIterator):
        return None
    return source


class _Answer:
    """httptools' callbacks for one response: its headers and the start of its body."""

    def __init__(self) -> None:
        self.headers: dict[str, str] = {}
        self.text = bytearray()
        self.complete = False

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        self.text += body[: ERROR_TEXT - len(self.text)]

    def on_message_complete(self) -> None:
        self.complete = True


class SplicedPart:
    """One UploadPart PUT: connect and send its head, splice its body, read its answer."""

    def __init__(self, url: str, length: int) -> None:
        where = urlsplit(url)
        self._host = where.hostname or ""
        self._port = where.port or 80
        target = where.path + (f"?{where.query}" if where.query else "")
        # The host is what the URL was signed for; one request, then the connection closes.
        self._head = (
            f"PUT {target} HTTP/1.1\r\nHost: {where.netloc}\r\n"
            f"Content-Length: {length}\r\nConnection: close\r\n\r\n"
        ).encode("latin-1")
        self._sock: socket.socket | None = None

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(self._host, self._port, type=socket.SOCK_STREAM)
        family, kind, proto, _, address = infos[0]
        self._sock = sock = socket.socket(family, kind, proto)
        sock.setblocking(False)
        async with asyncio.timeout(CONNECT_SECONDS):
            await loop.sock_connect(sock, address)
        await loop.sock_sendall(sock, self._head)

    def fill(self, body: DirectBody) -> Steps:
        """Steps that splice the whole body into the request (in the pump's threads). The socket
        stays non-blocking: while the store reads slowly the steps wait for it as for a slow
        client, holding no thread, and fail with TimeoutError once it took no bytes for
        STALL_SECONDS."""
        assert self._sock is not None, "open() first"
        yield from body.splice_into(self._sock.fileno(), None, body.length, STALL_SECONDS)

    async def answer(self, within: float | None = None) -> str:
        """The store's answer to the part: its ETag, or the error it is; TimeoutError if none
        came `within` seconds (default STALL_SECONDS)."""
        assert self._sock is not None, "open() first"
        within = STALL_SECONDS if within is None else within
        sock, loop = self._sock, asyncio.get_running_loop()
        answer = _Answer()
        parser = httptools.HttpResponseParser(answer)
        async with asyncio.timeout(within):
            while not answer.complete:
                data = await loop.sock_recv(sock, ANSWER_READ)
                if not data:
                    break
                parser.feed_data(data)
        status = parser.get_status_code() if answer.complete else 0
        text = bytes(answer.text).decode("utf-8", "replace")
        if status == 404:
            raise NotFound("the upload's storage object is gone (aborted?)")
        if status != 200 or "etag" not in answer.headers:
            raise StorageUnavailable(
                f"object store answered {status or 'nothing'} to a part upload: {text}"
            )
        return answer.headers["etag"]

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()


async def write_spliced(
    url: str, body: DirectBody, limit: int, accept: Callable[[int], None] | None
) -> Written:
    """Storage.write_range for a spliceable body (see `spliceable`)."""
    if body.length > limit:
        raise WrongPartSize(f"part body is larger than the {limit} bytes this part takes")
    part = SplicedPart(url, body.length)
    try:
        try:
            await part.open()
        except (OSError, TimeoutError) as exc:
            raise StorageUnavailable(
                f"object store unreachable while storing a part: {_why(exc, CONNECT_SECONDS)}"
            ) from exc
        try:
            await body.drive(part.fill(body))
        except OSError as exc:
            # The store may have refused the part and closed early: its answer says why.
            with contextlib.suppress(OSError, TimeoutError, httptools.HttpParserError):
                await part.answer(REFUSAL_SECONDS)
            raise StorageUnavailable(
                f"object store cut off or stalled a part upload: {exc}"
            ) from exc
        if accept is not None:
            accept(body.length)
        try:
            tag = await part.answer()
        except (OSError, TimeoutError, httptools.HttpParserError) as exc:
            raise StorageUnavailable(
                f"no answer from the object store to a part: {_why(exc, STALL_SECONDS)}"
            ) from exc
    finally:
        part.close()
    return Written(body.length, tag)


def _why(exc: BaseException, waited: float) -> str:
    """An exception as a message: a timeout's own text is empty."""
    if isinstance(exc, TimeoutError) and not str(exc):
        return f"none came within {waited:g} s"
    return str(exc)
