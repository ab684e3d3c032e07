"""A part's bytes spliced from the client's socket into UploadPart: socket → pipe → socket
inside the kernel, never through Python.

Why: proxied through httpx, each byte of a part was read into a bytes object and written out
again, and every ~1 MiB cost Python work in the body pump, httpx, h11 and anyio; partway spent
1.8 CPU s/GiB proxying to Ceph RGW, CPU the store itself needs on a small machine. This path
is taken for a body read straight from the connection, of known length, with no digest to
compute on the way, to a plain-HTTP endpoint (splice cannot write into TLS); anything else goes
through httpx (storage/s3.py). The request is the presigned UploadPart PUT, its head two lines,
its answer parsed by httptools (uvicorn's parser); the connection then stays open for the next
part (StoreConnections).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections import deque
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
# A connection kept for the next part is closed after this long unused: well within the idle
# timeouts of stores (RGW's beast: 65 s), so the store seldom closes one just as it is reused.
IDLE_SECONDS = 4.0
# Connections kept per store address; more finished parts at once close theirs.
IDLE_MOST = 32


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
        self.keep_alive = False
        self.parser = httptools.HttpResponseParser(self)

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        self.text += body[: ERROR_TEXT - len(self.text)]

    def on_message_complete(self) -> None:
        self.complete = True
        # Asked now: once the message is over the parser starts afresh and answers False.
        self.keep_alive = self.parser.should_keep_alive()


Address = tuple[str, int]


class StoreConnections:
    """Connections to the store that answered a part and stay open for the next, per address,
    of one event loop. Setting one up costs the store more than partway: RGW spent 0.4 CPU s/GiB
    more on 8 MiB parts each on a connection of its own (5.1 vs 5.5 s/GiB, six pairs)."""

    def __init__(self) -> None:
        self._idle: dict[Address, deque[tuple[float, socket.socket]]] = {}
        self._sweep: asyncio.TimerHandle | None = None

    @property
    def count(self) -> int:
        return sum(len(kept) for kept in self._idle.values())

    def take(self, address: Address) -> socket.socket | None:
        """The most recently used connection to `address` that the store has not closed."""
        kept = self._idle.get(address)
        while kept:
            since, sock = kept.pop()
            if time.monotonic() - since < IDLE_SECONDS and _quiet(sock):
                return sock
            sock.close()
        return None

    def give(self, address: Address, sock: socket.socket) -> None:
        kept = self._idle.setdefault(address, deque())
        if len(kept) >= IDLE_MOST:
            sock.close()
            return
        kept.append((time.monotonic(), sock))
        if self._sweep is None:
            self._sweep = asyncio.get_running_loop().call_later(IDLE_SECONDS, self._expire)

    def _expire(self) -> None:
        self._sweep = None
        now = time.monotonic()
        for kept in self._idle.values():
            while kept and now - kept[0][0] >= IDLE_SECONDS:
                kept.popleft()[1].close()
        if self.count:
            self._sweep = asyncio.get_running_loop().call_later(IDLE_SECONDS, self._expire)

    def close(self) -> None:
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        for kept in self._idle.values():
            for _, sock in kept:
                sock.close()
        self._idle.clear()


def _quiet(sock: socket.socket) -> bool:
    """Whether an idle connection is still open and has nothing to read: a store that closed
    it has sent its FIN, and a kept connection must not carry stray bytes."""
    try:
        sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except BlockingIOError:
        return True
    except OSError:
        return False
    return False


class SplicedPart:
    """One UploadPart PUT: connect (or reuse a kept connection) and send its head, splice its
    body, read its answer."""

    def __init__(self, url: str, length: int, kept: StoreConnections | None = None) -> None:
        where = urlsplit(url)
        self._address = (where.hostname or "", where.port or 80)
        target = where.path + (f"?{where.query}" if where.query else "")
        # The host is what the URL was signed for.
        close = "" if kept is not None else "Connection: close\r\n"
        self._head = (
            f"PUT {target} HTTP/1.1\r\nHost: {where.netloc}\r\n"
            f"Content-Length: {length}\r\n{close}\r\n"
        ).encode("latin-1")
        self._kept = kept
        self._sock: socket.socket | None = None
        # Set once the store answered the whole part and keeps the connection open.
        self._reusable = False

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        self._sock = sock = self._kept.take(self._address) if self._kept is not None else None
        if sock is None:
            host, port = self._address
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
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
        parser = answer.parser
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
        self._reusable = answer.keep_alive
        return answer.headers["etag"]

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is None:
            return
        if self._reusable and self._kept is not None:
            self._kept.give(self._address, sock)
        else:
            sock.close()


async def write_spliced(
    url: str,
    body: DirectBody,
    limit: int,
    accept: Callable[[int], None] | None,
    kept: StoreConnections | None = None,
) -> Written:
    """Storage.write_range for a spliceable body (see `spliceable`); over a connection from
    `kept`, if it has one, and back into it after."""
    if body.length > limit:
        raise WrongPartSize(f"part body is larger than the {limit} bytes this part takes")
    part = SplicedPart(url, body.length, kept)
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
