"""A request body read straight from the socket, past the event loop and the HTTP parser.

Why: through ASGI `receive`, every ≤256 KiB of body costs the event loop a socket read, a parser
callback, two copies and a task wake-up; the loop is the one serial stage of a process, and that
work capped an upload sink near 1.1 GB/s here with the loop ~90 % busy. Moved by the body pump's
threads (`pump.py`) in 1 MiB steps, or spliced socket → file inside the kernel, the same sink
reached ~2.1 GB/s, and waiting for a slow client costs no thread at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import socket
import threading
import weakref
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from starlette.requests import ClientDisconnect

from ..domain.ports import Steps, WaitWritable
from ..fair_share import stepped_aside
from .pump import BodyPump, Job, Pace, Progress

if TYPE_CHECKING:
    from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

    from .server import EdgeProtocol

BODY_EXTENSION = "partway.socket_body"
# Bytes moved per splice(2) call: each worker's pipe between socket and file is widened to this.
PIPE_BYTES = 1024 * 1024
_NONBLOCK = os.SPLICE_F_MOVE | os.SPLICE_F_NONBLOCK
# Bytes a body may still have to move, all already received, for it to be moved on the loop.
INLINE_BYTES = 64 * 1024


def socket_body(scope: Any) -> SocketBody | None:
    body: SocketBody | None = scope.get("extensions", {}).get(BODY_EXTENSION)
    return body


class SocketBody:
    """One request's body, offered for reading from the socket.

    `drive` (on the event loop) takes the body from the parser on first use, which is when
    `100 Continue` goes out, then has the pump run the given steps; `read_into` and
    `splice_into` make such steps. `settle` (on the loop, idempotent) hands the connection
    back: the parser starts afresh at the next request if the body was read to its end.
    """

    def __init__(
        self,
        protocol: EdgeProtocol,
        cycle: RequestResponseCycle,
        length: int,
        pump: BodyPump,
        pace: Pace,
    ) -> None:
        self._protocol = protocol
        # Weak: the cycle's scope holds this body (an extension); a strong reference back made
        # each request a reference cycle (cycle_wrappers.py says what those cost).
        self._cycle_ref = weakref.ref(cycle)
        self._pump = pump
        self.pace = pace
        self.length = length
        self.delivered = 0  # body bytes the parser passed on before the take-over
        self.received = 0  # body bytes handed out by read_into / splice_into
        self._early = memoryview(b"")
        self._from_socket = 0
        self._socket: socket.socket | None = None  # our own duplicate of the connection's
        self._low_water = 1
        self._abandoned = threading.Event()
        self._settled = False
        self._progress: Progress | None = None  # one for the whole body, across drive() calls

    @property
    def client_gone(self) -> bool:
        cycle = self._cycle_ref()
        return cycle is None or cycle.disconnected

    def stop(self) -> None:
        """End this body from outside (http/supersede.py: a newer request for the same upload):
        the connection is shut down, so the pump finds the client gone and the request ends as
        a disconnect does."""
        with (
            contextlib.suppress(OSError),
            socket.socket(fileno=os.dup(self._protocol.socket_fd)) as conn,
        ):
            conn.shutdown(socket.SHUT_RDWR)

    def _take(self) -> None:
        cycle = self._cycle_ref()
        if cycle is None or cycle.disconnected or self._settled:
            raise ClientDisconnect()
        if len(cycle.body) != self.delivered:
            raise RuntimeError("the body was partly received through ASGI already")
        # A descriptor of our own: closing it never closes the connection under the loop, and
        # the connection closing under us cannot hand its number to another one. Non-blocking,
        # as the loop's (they share the flag). Made first: out of descriptors (EMFILE, a 503),
        # nothing has changed yet and the parser still owns the body.
        fd = os.dup(self._protocol.socket_fd)
        try:
            self._socket = socket.socket(fileno=fd)
        except BaseException:
            os.close(fd)
            raise
        if cycle.waiting_for_100_continue and not cycle.transport.is_closing():
            cycle.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            cycle.waiting_for_100_continue = False
        self._protocol.flow.pause_reading()
        self._early, cycle.body = memoryview(bytes(cycle.body)), bytearray()
        self._progress = Progress(self.pace)

    async def drive(self, steps: Steps) -> None:
        """Run `steps` in the pump's threads until they end; they resume whenever the socket
        has bytes. Raises BodyTimeout past a deadline and ClientDisconnect if the client left.
        If we are cancelled, the steps are stopped before this returns, so that nothing is
        still writing when the caller closes its file."""
        if self._socket is None:
            self._take()
        assert self._socket is not None and self._progress is not None
        if 0 < self.length - self.received <= min(len(self._early), INLINE_BYTES):
            # The rest of the body came with its head (a small part, a tus PATCH): moving it
            # needs no socket read, so it is moved here rather than queue behind other
            # tenants' bodies for a pump thread.
            try:
                next(steps)
            except StopIteration:
                return
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        job = Job(
            self._socket.fileno(),
            steps,
            self._progress,
            self._moved,
            self._set_low_water,
            loop,
            done,
            self._abandoned,
        )
        self._pump.submit(job)
        cancelled = False
        async with stepped_aside():
            while not done.done():
                try:
                    await asyncio.shield(done)
                except asyncio.CancelledError:
                    # However often we are cancelled, the job ends before we return: its file
                    # and socket must not be closed under a worker still moving bytes.
                    cancelled = True
                    self._abandoned.set()
                except BaseException:
                    break
        if cancelled:
            raise asyncio.CancelledError()
        done.result()

    def _moved(self) -> int:
        return self._from_socket

    def _set_low_water(self, most: int) -> None:
        """Readable once `most` bytes are there, or all the body still has to send."""
        mark = max(1, min(most, self.length - self.delivered - self._from_socket))
        if mark != self._low_water and self._socket is not None:
            self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, mark)
            self._low_water = mark

    def read_into(self, view: memoryview) -> Steps:
        """Steps that fill `view` with the next body bytes."""
        if self.received + len(view) > self.length:
            raise ValueError("read past the end of the body")
        got = 0
        if self._early:
            got = min(len(self._early), len(view))
            view[:got] = self._early[:got]
            self._early = self._early[got:]
            self.received += got
        source = self._source()
        while got < len(view):
            count = self._try(partial(os.readv, source, [view[got:]]))
            if count is None:
                yield None
                continue
            got += count
            self.received += count

    def read_chunks(self, count: int, into: list[bytes]) -> Steps:
        """Steps that append the next `count` body bytes to `into`, each read of the socket a
        bytes object of its own."""
        if self.received + count > self.length:
            raise ValueError("read past the end of the body")
        if self._early:
            early = bytes(self._early[:count])
            into.append(early)
            self._early = self._early[len(early) :]
            count -= len(early)
            self.received += len(early)
        source = self._source()
        read: list[bytes] = []

        def read_some(want: int) -> int:
            read.append(os.read(source, want))
            return len(read[-1])

        while count:
            got = self._try(partial(read_some, count))
            if got is None:
                yield None
                continue
            into.append(read.pop())
            count -= got
            self.received += got

    def splice_into(
        self, fd: int, offset: int | None, count: int, stall: float | None = None
    ) -> Steps:
        """Steps that move the next `count` body bytes into `fd`: at `offset` of a file, or
        (None) down a stream such as a socket to an object store. Socket → pipe → `fd` with
        splice(2), so the bytes never pass through Python. A non-blocking stream that is full
        is waited for like the client's socket (`stall`: seconds it may take no bytes). Errors
        writing `fd` come out as the OSError they are."""
        if self.received + count > self.length:
            raise ValueError("read past the end of the body")
        while self._early and count:
            early = self._early[:count]
            try:
                written = os.write(fd, early) if offset is None else os.pwrite(fd, early, offset)
            except BlockingIOError:
                yield _writable(fd, stall)
                continue
            self._early = self._early[written:]
            offset = None if offset is None else offset + written
            count -= written
            self.received += written
        source = self._source()
        while count:
            # The thread may change at every yield; its pipe is empty at each one.
            pipe_out, pipe_in = _thread_pipe()
            want = min(count, PIPE_BYTES)
            moved = self._try(partial(os.splice, source, pipe_in, want, flags=_NONBLOCK))
            if moved is None:
                yield None
                continue
            count -= moved
            left, offset = self._out_of_pipe(pipe_out, fd, moved, offset)
            if left:
                # The stream is full: the bytes in the pipe are this body's until they are out.
                yield from self._drain(_adopt_thread_pipe(), fd, left, stall)

    def _out_of_pipe(
        self, pipe_out: int, fd: int, moved: int, offset: int | None
    ) -> tuple[int, int | None]:
        """As many of the `moved` bytes in this thread's pipe as `fd` takes now: the count
        left in the pipe (a full stream), and the offset after those written."""
        try:
            while moved:
                written = os.splice(pipe_out, fd, moved, offset_dst=offset)
                offset = None if offset is None else offset + written
                moved -= written
                self.received += written
        except BlockingIOError:
            if offset is None:
                return moved, offset
            self._lose_thread_pipe()
            raise
        except BaseException:
            self._lose_thread_pipe()
            raise
        return 0, offset

    def _lose_thread_pipe(self) -> None:
        _drop_thread_pipe()  # bytes are stuck in it
        self._abandoned.set()  # and lost to this body: it can go no further

    def _drain(self, pipe: tuple[int, int], fd: int, left: int, stall: float | None) -> Steps:
        """Steps that move the `left` bytes in `pipe` (this body's own) down the stream `fd`,
        waiting whenever it is full; the pipe is closed at the end."""
        try:
            while left:
                try:
                    written = os.splice(pipe[0], fd, left)
                except BlockingIOError:
                    yield _writable(fd, stall)
                    continue
                left -= written
                self.received += written
        except BaseException:
            self._abandoned.set()  # the bytes still in the pipe are lost to this body
            raise
        finally:
            for end in pipe:
                os.close(end)

    def _source(self) -> int:
        assert self._socket is not None, "drive() first"
        return self._socket.fileno()

    def _try(self, read: Callable[[], int]) -> int | None:
        """One non-blocking read from the socket: the byte count, or None if there is nothing
        to read yet."""
        if self._abandoned.is_set():
            raise ClientDisconnect()
        try:
            count = read()
        except BlockingIOError:
            return None
        except ConnectionError:
            raise ClientDisconnect() from None
        if count == 0:
            raise ClientDisconnect()
        self._from_socket += count
        return count

    def settle(self) -> None:
        if self._settled:
            return
        self._settled = True
        self._abandoned.set()
        if self._socket is None:
            return  # never taken: the parser still owns the body
        if self._low_water != 1:
            # The mark is the socket's, not this descriptor's: the next request must not wait.
            with contextlib.suppress(OSError):
                self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, 1)
        self._socket.close()
        cycle = self._cycle_ref()
        if cycle is not None and self._from_socket and self.received == self.length:
            self._protocol.body_read_directly(cycle)
        # Otherwise the response goes out with the body unfinished, and the protocol closes the
        # connection after it (the stream cannot carry another request).


_pipes = threading.local()


def _thread_pipe() -> tuple[int, int]:
    """This worker thread's pipe between socket and file (read end, write end)."""
    pipe: tuple[int, int] | None = getattr(_pipes, "pipe", None)
    if pipe is None:
        pipe = os.pipe2(os.O_CLOEXEC)
        with contextlib.suppress(OSError):  # a narrower pipe only means more calls
            fcntl.fcntl(pipe[1], fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        _pipes.pipe = pipe
    return pipe


def _adopt_thread_pipe() -> tuple[int, int]:
    """This thread's pipe, for a body to keep (the thread makes a new one when it needs one)."""
    pipe: tuple[int, int] = _pipes.pipe
    _pipes.pipe = None
    return pipe


def _writable(fd: int, stall: float | None) -> WaitWritable:
    """A wait for the stream `fd` to take bytes; only steps given a stall may wait for one."""
    if stall is None:
        raise BlockingIOError(f"descriptor {fd} would block and no stall deadline was given")
    return WaitWritable(fd, stall)


def _drop_thread_pipe() -> None:
    pipe: tuple[int, int] | None = getattr(_pipes, "pipe", None)
    _pipes.pipe = None
    if pipe is not None:
        for end in pipe:
            os.close(end)
