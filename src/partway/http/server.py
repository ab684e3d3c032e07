"""uvicorn's httptools protocol plus two things: a handler may have a worker thread take a
request body straight from the socket, past the event loop; and a response's head leaves in one
send with its first body bytes.

Why the first: through ASGI `receive`, every ≤256 KiB of body costs the event loop a socket read,
a parser callback, two copies and a task wake-up. The loop is the one serial stage of a process,
and that work capped an upload sink near 1.1 GB/s here with the loop thread ~90 % busy. A thread
that reads and writes a whole part in 1 MiB blocks reached ~2.1 GB/s in the same sink; one that
splices it socket → file inside the kernel (`splice_into`) needs ~30 % less CPU than that.

Only plain-HTTP requests with a Content-Length offer it (scope extension `partway.socket_body`);
everything else, and every handler that does not ask, uses `receive` as usual.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import select
import threading
import time
from collections.abc import Callable, MutableMapping
from functools import partial
from typing import Any

import httptools
from starlette.requests import ClientDisconnect
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

BODY_EXTENSION = "partway.socket_body"
# How often a reading thread looks up to see whether its request was abandoned.
POLL_SECONDS = 0.5
# Bytes moved per splice(2) call: the pipe between socket and file is widened to this.
PIPE_BYTES = 1024 * 1024


class BodyTimeout(Exception):
    """The client sent no body byte for the idle timeout."""


def socket_body(scope: MutableMapping[str, Any]) -> SocketBody | None:
    body: SocketBody | None = scope.get("extensions", {}).get(BODY_EXTENSION)
    return body


class SocketBody:
    """One request's body, offered for reading from the socket.

    `take` (on the event loop, before any `receive`) stops the loop reading the connection; then
    one worker thread at a time calls `read_into` or `splice_into`; `settle` (on the loop,
    idempotent, once no read is running) hands the connection back: ready for the next request
    if the body was read to its end or not at all, else marked to close after the response.
    """

    def __init__(self, protocol: SocketBodyProtocol, cycle: RequestResponseCycle, length: int):
        self._protocol = protocol
        self._cycle = cycle
        self.length = length
        self.delivered = 0  # body bytes the parser passed on before the take-over
        self.received = 0  # body bytes handed out by read_into / splice_into
        self._early = memoryview(b"")
        self._from_socket = 0
        self._fd: int | None = None  # our own duplicate of the connection's socket
        self._pipe: tuple[int, int] | None = None  # (read end, write end), for splice_into
        self._readable = select.poll()
        self._abandoned = threading.Event()
        self._settled = False
        self._idle_timeout = 60.0

    def take(self, idle_timeout: float) -> SocketBody:
        cycle = self._cycle
        if cycle.disconnected:
            raise ClientDisconnect()
        if self._fd is not None or len(cycle.body) != self.delivered:
            raise RuntimeError("the body was taken, or partly received through ASGI, already")
        if cycle.waiting_for_100_continue and not cycle.transport.is_closing():
            cycle.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            cycle.waiting_for_100_continue = False
        self._protocol.flow.pause_reading()
        self._early, cycle.body = memoryview(bytes(cycle.body)), bytearray()
        # A descriptor of our own: closing it never closes the connection under the loop, and
        # the connection closing under us cannot hand its number to another one. Non-blocking,
        # as the loop's (they share the flag).
        self._fd = os.dup(self._protocol.socket_fd)
        self._readable.register(self._fd, select.POLLIN)
        self._idle_timeout = idle_timeout
        return self

    def read_into(self, view: memoryview) -> None:
        """Fill `view` with the next body bytes (blocking; for a worker thread)."""
        if self.received + len(view) > self.length:
            raise ValueError("read past the end of the body")
        got = 0
        if self._early:
            got = min(len(self._early), len(view))
            view[:got] = self._early[:got]
            self._early = self._early[got:]
        assert self._fd is not None, "take() first"
        source = self._fd
        while got < len(view):
            got += self._from_socket_by(partial(os.readv, source, [view[got:]]))
        self.received += got

    def splice_into(self, fd: int, offset: int, count: int) -> None:
        """Move the next `count` body bytes into file `fd` at `offset` (blocking; for a worker
        thread): socket → pipe → file with splice(2), so they are copied once, by the kernel,
        into the page cache. Errors writing the file come out as the OSError they are."""
        if self.received + count > self.length:
            raise ValueError("read past the end of the body")
        if self._early:
            early = self._early[:count]
            _pwrite_all(fd, early, offset)
            self._early = self._early[len(early) :]
            offset += len(early)
            count -= len(early)
            self.received += len(early)
        if not count:
            return
        assert self._fd is not None, "take() first"
        source = self._fd
        pipe_out, pipe_in = self._pipe_pair()
        while count:
            # The pipe is empty here, so "would block" can only be the socket's.
            want = min(count, PIPE_BYTES)
            moved = self._from_socket_by(partial(os.splice, source, pipe_in, want, flags=_NONBLOCK))
            count -= moved
            try:
                while moved:
                    written = os.splice(pipe_out, fd, moved, offset_dst=offset)
                    offset += written
                    moved -= written
                    self.received += written
            except BaseException:
                self.abandon()  # bytes are stuck in the pipe: this body can go no further
                raise

    def _pipe_pair(self) -> tuple[int, int]:
        """The body's pipe between socket and file, made at its first splice, closed by
        settle."""
        if self._pipe is None:
            self._pipe = os.pipe2(os.O_CLOEXEC)
            with contextlib.suppress(OSError):  # a narrower pipe only means more calls
                fcntl.fcntl(self._pipe[1], fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        return self._pipe

    def _from_socket_by(self, read: Callable[[], int]) -> int:
        """Run `read`, a non-blocking read from the socket, until it moves some bytes; waits
        while the socket is empty, and gives up when the body is abandoned, the client leaves or
        the socket stays silent for the idle timeout."""
        idle_since = time.monotonic()
        while True:
            if self._abandoned.is_set():
                raise ClientDisconnect()
            try:
                count = read()
            except BlockingIOError:
                self._wait(idle_since)
                continue
            except ConnectionError:
                raise ClientDisconnect() from None
            if count == 0:
                raise ClientDisconnect()
            self._from_socket += count
            return count

    @property
    def client_gone(self) -> bool:
        return self._cycle.disconnected

    def _wait(self, idle_since: float) -> None:
        """Until the socket has bytes or POLL_SECONDS pass; BodyTimeout once it has been silent
        for the idle timeout."""
        if self._readable.poll(POLL_SECONDS * 1000):
            return
        if time.monotonic() - idle_since >= self._idle_timeout:
            raise BodyTimeout(f"no body bytes for {self._idle_timeout:g} s")

    def abandon(self) -> None:
        """Make a read in progress give up within POLL_SECONDS (any thread)."""
        self._abandoned.set()

    def settle(self) -> None:
        if self._fd is None or self._settled:
            return
        self._settled = True
        self.abandon()
        os.close(self._fd)
        if self._pipe is not None:
            for end in self._pipe:
                os.close(end)
        if not self._from_socket:
            return  # the parser saw every byte there was: it is where it should be
        if self.received == self.length:
            self._protocol.body_read_directly(self._cycle)
        else:
            # Mid-body: the parser and the stream disagree, the stream cannot carry another request.
            self._cycle.keep_alive = False


_NONBLOCK = os.SPLICE_F_MOVE | os.SPLICE_F_NONBLOCK


def _pwrite_all(fd: int, data: memoryview, offset: int) -> None:
    while data:
        written = os.pwrite(fd, data, offset)
        data = data[written:]
        offset += written


class _HeadHeld:
    """A request's view of the connection's transport that holds the response head until the
    first body write, so both leave in one send: on loopback a send costs the sender ~40 µs of
    event-loop time (the receiver's TCP work runs in it), two per response before."""

    def __init__(self, transport: asyncio.Transport, cycle: RequestResponseCycle) -> None:
        self._transport = transport
        self._cycle = cycle
        self._head: bytes | None = None
        self._held = False

    def write(self, data: bytes) -> None:
        if self._head is not None:
            head, self._head = self._head, None
            self._transport.writelines([head, data])  # uvloop: one writev
        elif self._cycle.response_started and not self._held:
            # The cycle's first write once the response started is its head (a 100 Continue
            # goes out before that).
            self._head, self._held = data, True
        else:
            self._transport.write(data)

    def close(self) -> None:
        if self._head is not None:
            self._transport.write(self._head)
            self._head = None
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class SocketBodyProtocol(HttpToolsProtocol):
    """HttpToolsProtocol that offers each plain-HTTP request with a Content-Length a SocketBody,
    and sends each response's head together with its first body bytes."""

    _socket_body: SocketBody | None = None
    socket_fd = -1

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            self.socket_fd = sock.fileno()

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._socket_body = None
        cycle = self.cycle
        if cycle is None or cycle.scope is not self.scope:
            return  # an upgrade
        cycle.transport = _HeadHeld(self.transport, cycle)  # type: ignore[assignment]
        if self.scheme != "http":
            return  # TLS: the bytes on the socket are not the body
        length = None
        for name, value in self.headers:
            if name == b"transfer-encoding":
                return
            if name == b"content-length":
                with contextlib.suppress(ValueError):
                    length = int(value)
        if length:
            self._socket_body = SocketBody(self, cycle, length)
            extensions: dict[str, Any] = self.scope.setdefault("extensions", {})
            extensions[BODY_EXTENSION] = self._socket_body

    def on_body(self, body: bytes) -> None:
        if self._socket_body is not None:
            self._socket_body.delivered += len(body)
        super().on_body(body)

    def body_read_directly(self, cycle: RequestResponseCycle) -> None:
        """The rest of the body came off the socket past the parser, which still expects it; a
        fresh parser starts at the next request, as if this one had completed."""
        self.parser = httptools.HttpRequestParser(self)
        with contextlib.suppress(AttributeError):  # httptools < 0.6.3
            self.parser.set_dangerous_leniencies(lenient_data_after_close=True)
        self._socket_body = None
        cycle.more_body = False
        cycle.message_event.set()
