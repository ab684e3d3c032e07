"""PUT a part body over a plain socket: from a buffer with one sendall, or straight from the
file with sendfile(2) when no digest or a CRC32C (computed over a mapping) is sent: then no
byte of the body passes through Python.

httpx copies each slice of a body through h11 and its own buffers; on a 2-core machine that,
and its per-chunk Python, cost a third of the uploader's speed (docs/benchmarks.md,
"Integrity"). Plain HTTP only: TLS needs the bytes in user space (the httpx path serves it).
Answers become httpx.Responses and socket failures httpx transport errors, so retries and
error handling are those of the httpx path. One keep-alive connection per worker thread.
"""

from __future__ import annotations

import os
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO, cast
from urllib.parse import urlencode, urlsplit

import httpx

READ = 65536


class FileShrank(Exception):
    """The file is shorter than when the upload began."""


@dataclass(frozen=True)
class FileSpan:
    """`length` bytes of the open file `fd` at `offset`: a body the kernel sends."""

    fd: int
    offset: int
    length: int


class RawPut:
    def __init__(self, base_url: str, headers: dict[str, str], timeout: float = 60.0) -> None:
        parts = urlsplit(base_url)
        self._address = (parts.hostname or "127.0.0.1", parts.port or 80)
        self._base = base_url.rstrip("/")
        host = parts.netloc
        self._head = {"host": host, **{k.lower(): v for k, v in headers.items()}}
        self._timeout = timeout
        self._local = threading.local()
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()  # every thread's, for close_all

    def put(
        self,
        path: str,
        params: dict[str, str],
        headers: dict[str, str],
        body: memoryview | FileSpan,
        while_waiting: Callable[[], None] | None = None,
    ) -> httpx.Response:
        """PUT `body`; `while_waiting` (which must not raise) runs once the body is sent, while
        the server stores it and before its answer is read."""
        target = f"{path}?{urlencode(params)}"
        request = httpx.Request("PUT", self._base + target)
        length = body.length if isinstance(body, FileSpan) else len(body)
        fields = {**self._head, **headers, "content-length": str(length)}
        head = f"PUT {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields.items())
        try:
            sock = self._connection()
            sock.sendall(head.encode("latin-1") + b"\r\n")
            if isinstance(body, FileSpan):
                _send_file(sock, body)
            else:
                sock.sendall(body)
            if while_waiting is not None:
                while_waiting()
            status, answer, content = _response(sock)
        except FileShrank:
            self.close()
            raise
        except (OSError, ValueError, IndexError) as exc:  # the last two: no or a bad status line
            self.close()
            raise httpx.ReadError(f"part PUT failed: {exc!r}", request=request) from exc
        if answer.get("connection", "").lower() == "close":
            self.close()
        return httpx.Response(status, headers=answer, content=content, request=request)

    def _connection(self) -> socket.socket:
        sock: socket.socket | None = getattr(self._local, "sock", None)
        if sock is None:
            sock = socket.create_connection(self._address, timeout=self._timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            _blocking_with_timeouts(sock, self._timeout)
            self._local.sock = sock
            with self._lock:
                self._open.add(sock)
        return sock

    def close(self) -> None:
        """This thread's connection."""
        sock = getattr(self._local, "sock", None)
        if sock is not None:
            with self._lock:
                self._open.discard(sock)
            sock.close()
            self._local.sock = None

    def close_all(self) -> None:
        """Every thread's connection: once the workers are done."""
        with self._lock:
            held, self._open = self._open, set()
        for sock in held:
            sock.close()


def _blocking_with_timeouts(sock: socket.socket, timeout: float) -> None:
    """A blocking socket whose sends and receives give up after `timeout` (SO_SNDTIMEO,
    SO_RCVTIMEO) instead of one with Python's timeout, which is non-blocking underneath: there
    every send and receive is a poll(2) and a retry, and sendfile(2) of a part stops each time
    the socket buffer is full. Each of those calls gives up the GIL and takes it back; with
    four worker threads and the event loop, 4,000 futex calls an upload of 512 MiB against
    500 for blocking sockets (strace -c), and a part's next bytes waited for the GIL."""
    sock.settimeout(None)
    seconds = int(timeout)
    wait = struct.pack("ll", seconds, int((timeout - seconds) * 1_000_000))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, wait)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, wait)


def _send_file(sock: socket.socket, span: FileSpan) -> None:
    # One sendfile(2) moves the whole span unless the timeout passes (then it returns what it
    # sent, or fails with EAGAIN having sent nothing) or the file ends first (then it sends 0).
    offset, left = span.offset, span.length
    while left:
        try:
            sent = os.sendfile(sock.fileno(), span.fd, offset, left)
        except BlockingIOError:
            raise TimeoutError("the server took no bytes of the part in time") from None
        if sent == 0:
            raise FileShrank("the file is shorter than when the upload began")
        offset += sent
        left -= sent


def _response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """The answer's status, headers and body. A receive that times out (SO_RCVTIMEO) makes the
    socket file return what it has so far: anything short is a ValueError, as a closed
    connection's is (the caller makes both a transport error)."""
    reader = cast(BinaryIO, sock.makefile("rb", buffering=READ))
    try:
        status = int(reader.readline(8192).split()[1])
        headers: dict[str, str] = {}
        while (line := reader.readline(8192)) not in (b"\r\n", b"\n"):
            if not line.endswith(b"\n"):
                raise ValueError("the answer's head ended early")
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            content = bytearray()
            while size := int(reader.readline(8192).split(b";")[0], 16):
                content += _exactly(reader, size + 2)[:-2]  # the data and its CRLF
            reader.readline(8192)
            return status, headers, bytes(content)
        return status, headers, _exactly(reader, int(headers.get("content-length", "0")))
    finally:
        reader.close()  # the socket stays open


def _exactly(reader: BinaryIO, size: int) -> bytes:
    data = reader.read(size) if size else b""
    if data is None or len(data) < size:
        raise ValueError("the answer's body ended early")
    return data
