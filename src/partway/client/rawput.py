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

import socket
import threading
from dataclasses import dataclass
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
    ) -> httpx.Response:
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


def _send_file(sock: socket.socket, span: FileSpan) -> None:
    # socket.sendfile, not a bare os.sendfile: the socket has a timeout, so it is non-blocking
    # underneath and sendfile(2) says EAGAIN whenever the send buffer is full; the method
    # waits for room (up to the timeout) as sendall does. It seeks the file object at the end:
    # harmless, every read of the shared descriptor names its offset.
    with open(span.fd, "rb", closefd=False) as file:
        sent = sock.sendfile(file, span.offset, span.length)
    if sent < span.length:
        raise FileShrank("the file is shorter than when the upload began")


def _response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    reader = sock.makefile("rb", buffering=READ)
    try:
        status = int(reader.readline(8192).split()[1])
        headers: dict[str, str] = {}
        while (line := reader.readline(8192)) not in (b"\r\n", b"\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            content = bytearray()
            while size := int(reader.readline(8192).split(b";")[0], 16):
                content += reader.read(size)
                reader.readline(8192)
            reader.readline(8192)
            return status, headers, bytes(content)
        return status, headers, reader.read(int(headers.get("content-length", "0")))
    finally:
        reader.close()  # the socket stays open
