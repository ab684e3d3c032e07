"""Plain-HTTP requests over blocking sockets of our own: the uploader's API calls, and its part
bodies from a buffer (one sendall) or straight from the file with sendfile(2) when no digest or
a CRC32C (computed over a mapping) is sent: then no byte of the body passes through Python.

Why not httpx: it copies each slice of a body through h11 and its own buffers, which on a
2-core machine, with its per-chunk Python, cost a third of the uploader's speed; and importing
it (with asyncio for its async client) was a third of `partway upload`'s start
(docs/benchmarks.md, "Integrity"). Plain HTTP only: TLS keeps httpx (syncapi.py, parts.py).

Answers are `Answer`s; failures are the httpx transport errors httpx's own transport raises for
the same causes (connect, write, read, timeouts; "Server disconnected without sending a
response." for a closed connection), imported only when one is raised, so the retry policy and
the error messages (retry.py, failures.py) treat both alike. One keep-alive connection per
thread. `abort` ends every request in flight at once (an upload stopped by Ctrl-C or a cancel
must not wait for a frozen server's timeouts); those requests raise InterruptedError.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import struct
import threading
import time
from collections.abc import Callable
from typing import Any, BinaryIO, NamedTuple, cast
from urllib.parse import urlencode, urlsplit

READ = 65536
LINE = 65536  # the longest status or header line taken
NO_BODY = frozenset({204, 304})
DISCONNECTED = "Server disconnected without sending a response."
EARLY_ANSWER_WAIT = 1.0  # for an answer already on its way when a send failed
STOPPED = "the upload was stopped"


class FileShrank(Exception):
    """The file is shorter than when the upload began."""


class FileSpan(NamedTuple):
    """`length` bytes of the open file `fd` at `offset`: a body the kernel sends."""

    fd: int
    offset: int
    length: int


Body = bytes | memoryview | FileSpan


class Answer(NamedTuple):
    """An answer as the clients read it (models.Reply): header names in lower case."""

    status_code: int
    headers: dict[str, str]
    content: bytes

    @property
    def reason_phrase(self) -> str:
        from http import HTTPStatus  # an enum of ~60 members: built only for an error's text

        try:
            return HTTPStatus(self.status_code).phrase
        except ValueError:
            return ""

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    def json(self) -> Any:
        return json.loads(self.content)


def transport_error(kind: str, message: str) -> Exception:
    """httpx's exception class `kind` (ConnectError, ReadTimeout, ...) with `message`."""
    import httpx

    error: type[Exception] = getattr(httpx, kind)
    return error(message)


class RawHttp:
    def __init__(
        self,
        base_url: str,
        headers: dict[str, str],
        timeout: float = 60.0,
        connect_timeout: float = 10.0,
    ) -> None:
        parts = urlsplit(base_url)
        self._address = (parts.hostname or "127.0.0.1", parts.port or 80)
        self._prefix = parts.path.rstrip("/")
        host = parts.netloc.rpartition("@")[2]  # never the userinfo
        self._head = {"host": host, **{k.lower(): v for k, v in headers.items()}}
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._local = threading.local()
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()  # every thread's, for close_all
        self._aborted = False

    def request(
        self,
        method: str,
        path: str,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        body: Body | None = None,
        while_waiting: Callable[[], None] | None = None,
    ) -> Answer:
        """Send a request; `while_waiting` (which must not raise) runs once the body is sent,
        while the server stores it and before its answer is read."""
        target = self._prefix + path + (f"?{urlencode(params)}" if params else "")
        fields = {**self._head, **{k.lower(): v for k, v in (headers or {}).items()}}
        if any(c in text for item in fields.items() for text in item for c in "\r\n\0"):
            # as httpx refuses them: a CR or LF would start a header (or request) of its own
            raise transport_error("LocalProtocolError", "a header holds CR, LF or NUL")
        if body is not None or method in ("POST", "PUT", "PATCH"):
            size = 0 if body is None else body.length if isinstance(body, FileSpan) else len(body)
            fields["content-length"] = str(size)
        lines = "".join(f"{k}: {v}\r\n" for k, v in fields.items())
        head = f"{method} {target} HTTP/1.1\r\n{lines}"
        sock = self._connection()
        try:
            early = _send(sock, head.encode("latin-1") + b"\r\n", body, method)
            if early is not None:
                self.close()
                return early
            if while_waiting is not None:
                while_waiting()
            answer = _answer(sock, method, self._timeout)
        except BaseException as exc:
            self.close()
            if self._aborted and isinstance(exc, Exception):  # the abort's doing
                raise InterruptedError(STOPPED) from exc
            raise
        if self._aborted:  # an answer read to its end only because the abort closed the stream
            self.close()
            raise InterruptedError(STOPPED)
        if answer.headers.get("connection", "").lower() == "close":
            self.close()
        return answer

    def _connection(self) -> socket.socket:
        sock: socket.socket | None = getattr(self._local, "sock", None)
        if sock is not None and not _usable(sock):
            self.close()  # the server closed it while idle (its keep-alive timeout)
            sock = None
        if sock is None:
            sock = self._connect()
            _blocking_with_timeouts(sock, self._timeout)
            self._local.sock = sock
        return sock

    def _connect(self) -> socket.socket:
        """A new connection, known to `abort` from before its connect (shutdown(2) ends a
        connect in progress too)."""
        host, port = self._address
        try:
            found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:  # unknown host (socket.gaierror)
            raise transport_error("ConnectError", str(exc)) from exc
        failure: OSError | None = None
        for family, kind, proto, _, address in found:  # each address in turn, as httpx does
            sock = socket.socket(family, kind, proto)
            with self._lock:
                if self._aborted:
                    sock.close()
                    raise InterruptedError(STOPPED)
                self._open.add(sock)
            try:
                sock.settimeout(self._connect_timeout)
                sock.connect(address)
            except OSError as exc:  # refused, unreachable, timed out
                self._drop(sock)
                if self._aborted:
                    raise InterruptedError(STOPPED) from exc
                failure = exc
                continue
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return sock
        if isinstance(failure, TimeoutError):
            raise transport_error("ConnectTimeout", f"connect timed out: {failure!r}") from failure
        raise transport_error("ConnectError", str(failure)) from failure

    def _drop(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.discard(sock)
        sock.close()

    def close(self) -> None:
        """This thread's connection."""
        sock = getattr(self._local, "sock", None)
        if sock is not None:
            self._drop(sock)
            self._local.sock = None

    def abort(self) -> None:
        """End every request in flight now, and refuse new ones (InterruptedError). Each
        connection is shut down, not closed: another thread may be blocked on its descriptor,
        and shutdown(2) wakes a blocked send or receive where close(2) would not."""
        with self._lock:
            self._aborted = True
            held = list(self._open)
        for sock in held:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def close_all(self) -> None:
        """Every thread's connection: once the workers are done."""
        with self._lock:
            held, self._open = self._open, set()
        for sock in held:
            sock.close()


def _usable(sock: socket.socket) -> bool:
    """False once the server has closed it (or sent what no request asked for)."""
    try:
        sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)  # b"": closed
    except BlockingIOError:
        return True  # nothing to read: still open
    except OSError:
        pass
    return False


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


def _send(sock: socket.socket, head: bytes, body: Body | None, method: str) -> Answer | None:
    """Send the request; None once it is all sent. A server may answer before it has read the
    body (a refusal: the session is gone, the part too large) and close: if the send fails and
    that answer is there, it is returned as the outcome."""
    try:
        if isinstance(body, FileSpan):
            sock.sendall(head)
            _send_file(sock, body)
        elif body is not None and len(body) > READ:
            sock.sendall(head)
            sock.sendall(body)
        else:
            sock.sendall(head + bytes(body or b""))  # one segment for a small request
    except (BlockingIOError, TimeoutError) as exc:  # SO_SNDTIMEO ran out
        raise transport_error("WriteTimeout", f"write timed out: {exc!r}") from exc
    except OSError as exc:
        early = _early_answer(sock, method)
        if early is None:
            raise transport_error("WriteError", str(exc) or repr(exc)) from exc
        return early
    return None


def _send_file(sock: socket.socket, span: FileSpan) -> None:
    # One sendfile(2) moves the whole span unless the timeout passes (then it returns what it
    # sent, or fails with EAGAIN having sent nothing) or the file ends first (then it sends 0).
    offset, left = span.offset, span.length
    while left:
        sent = os.sendfile(sock.fileno(), span.fd, offset, left)
        if sent == 0:
            raise FileShrank("the file is shorter than when the upload began")
        offset += sent
        left -= sent


def _early_answer(sock: socket.socket, method: str) -> Answer | None:
    """The answer the server sent before the send failed, if a whole one is there to read."""
    try:
        sock.settimeout(EARLY_ANSWER_WAIT)
        reader = cast(BinaryIO, sock.makefile("rb", buffering=READ))
        try:
            return _read_answer(reader, sock, method)
        finally:
            reader.close()
    except (ValueError, IndexError, OSError):
        return None


def _answer(sock: socket.socket, method: str, timeout: float) -> Answer:
    """The answer's status, headers and body. A receive that times out (SO_RCVTIMEO) makes the
    socket file return what it has so far, as a closed connection does: told apart by the time
    it took."""
    began = time.monotonic()
    reader = cast(BinaryIO, sock.makefile("rb", buffering=READ))
    try:
        return _read_answer(reader, sock, method)
    except (ValueError, IndexError, OSError) as exc:
        if time.monotonic() - began >= timeout * 0.9:
            raise transport_error("ReadTimeout", f"read timed out: {exc!r}") from exc
        if isinstance(exc, _Disconnected):
            raise transport_error("RemoteProtocolError", str(exc)) from exc
        if isinstance(exc, OSError):
            raise transport_error("ReadError", str(exc) or repr(exc)) from exc
        raise transport_error("RemoteProtocolError", f"malformed answer: {exc}") from exc
    finally:
        reader.close()  # the socket stays open


class _Disconnected(ValueError):
    pass


def _line(reader: BinaryIO, first: bool = False) -> bytes:
    line = reader.readline(LINE)
    if len(line) == LINE and not line.endswith(b"\n"):
        raise ValueError(f"a line of the answer longer than {LINE} bytes")
    if not line.endswith(b"\n"):
        if first and line and not b"HTTP/".startswith(line[:5]):
            # Something else than HTTP answered (a TLS alert, say), then hung up.
            raise ValueError(f"illegal status line: {line[:80]!r}")
        raise _Disconnected(DISCONNECTED if first and not line else "Server disconnected early.")
    return line


def _read_answer(reader: BinaryIO, sock: socket.socket, method: str) -> Answer:
    while True:
        version, _, rest = _line(reader, first=True).rstrip(b"\r\n").partition(b" ")
        code = rest.partition(b" ")[0]
        if not version.startswith(b"HTTP/1.") or not code.isdigit() or len(code) != 3:
            raise ValueError(f"illegal status line: {version + b' ' + rest!r:.80}")
        headers: dict[str, str] = {}
        name = ""
        while (line := _line(reader)) not in (b"\r\n", b"\n"):
            text = line.decode("latin-1")
            if text[0] in " \t" and name:  # obs-fold: the previous field's value goes on
                headers[name] += " " + text.strip()
                continue
            name, colon, value = text.partition(":")
            if not colon:
                raise ValueError(f"illegal header line: {line[:80]!r}")
            name = name.strip().lower()
            headers[name] = value.strip()
        status = int(code)
        if not 100 <= status < 200:  # an interim answer (100 Continue): the real one follows
            break
    if version == b"HTTP/1.0" and headers.get("connection", "").lower() != "keep-alive":
        headers["connection"] = "close"  # HTTP/1.0 keeps no connection unless it says so
    if method == "HEAD" or status in NO_BODY:
        return Answer(status, headers, b"")
    if headers.get("transfer-encoding", "").lower() == "chunked":
        content = bytearray()
        while size := int(_line(reader).split(b";")[0].strip() or b"x", 16):
            content += _exactly(reader, size + 2)[:-2]  # the data and its CRLF
        while _line(reader) not in (b"\r\n", b"\n"):
            pass  # trailers: none that partway reads
        return Answer(status, headers, bytes(content))
    length = headers.get("content-length")
    if length is None:  # the body ends with the connection
        headers["connection"] = "close"
        return Answer(status, headers, _to_the_end(reader, sock))
    return Answer(status, headers, _exactly(reader, int(length)))


def _to_the_end(reader: BinaryIO, sock: socket.socket) -> bytes:
    """What comes until the server closes. A receive that timed out (SO_RCVTIMEO) reads as an
    end too, but there the connection is still open."""
    content = bytearray()
    while chunk := reader.read1(READ):  # type: ignore[attr-defined]  # a BufferedReader
        content += chunk
    if _usable(sock):
        raise OSError("timed out before the answer's end")
    return bytes(content)


def _exactly(reader: BinaryIO, size: int) -> bytes:
    data = reader.read(size) if size else b""
    if data is None or len(data) < size:
        raise _Disconnected("Server disconnected before the whole body came.")
    return data
