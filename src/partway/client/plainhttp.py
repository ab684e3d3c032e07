"""httpx's one-method transport seam, filled for plain http:// with asyncio streams.

httpx's default transport is httpcore, which loads anyio for its locks on the first request:
httpcore + anyio + idna cost `partway upload` ~30-50 ms of its start (of a 0.6 s upload of
512 MiB; docs/benchmarks.md, "Integrity"), and each request passes through both libraries'
Python. The API calls an upload makes (create, get, finish, a few more) are small JSON requests
on one keep-alive connection: this transport sends them over asyncio streams instead. TLS keeps
httpx's own transport (client/api.py picks).

Failures become the httpx exceptions httpcore raises for the same causes (connect, read, write,
timeouts; "Server disconnected without sending a response." for a closed connection), so the
retry policy (client/retry.py) and the error messages (failures.py) treat both alike.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx

LINE = 65536  # the longest status or header line taken
NO_BODY = frozenset({204, 304})


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    def usable(self) -> bool:
        """False once the server has closed it (an idle keep-alive connection times out)."""
        return not (self.reader.at_eof() or self.writer.is_closing())

    def close(self) -> None:
        self.writer.close()


class PlainTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 over keep-alive asyncio connections, one request at a time on each."""

    def __init__(self) -> None:
        self._idle: dict[tuple[str, int], list[_Connection]] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme != "http":
            raise httpx.UnsupportedProtocol(f"plain HTTP only, not {request.url.scheme!r}")
        timeouts: dict[str, float | None] = request.extensions.get("timeout", {})
        address = (request.url.host, request.url.port or 80)
        conn = self._reuse(address) or await _connect(address, timeouts.get("connect"), request)
        try:
            await _write(conn, request, timeouts.get("write"))
            status, reason, headers = await _read_head(conn, timeouts.get("read"), request)
        except BaseException:
            conn.close()
            raise
        body = _Body(self, address, conn, request, status, headers, timeouts.get("read"))
        return httpx.Response(
            status,
            headers=headers,
            stream=body,
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": reason},
        )

    def _reuse(self, address: tuple[str, int]) -> _Connection | None:
        idle = self._idle.get(address, [])
        while idle:
            conn = idle.pop()
            if conn.usable():
                return conn
            conn.close()
        return None

    def give_back(self, address: tuple[str, int], conn: _Connection) -> None:
        self._idle.setdefault(address, []).append(conn)

    async def aclose(self) -> None:
        idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                conn.close()


async def _connect(
    address: tuple[str, int], timeout: float | None, request: httpx.Request
) -> _Connection:
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(*address), timeout)
    except TimeoutError as exc:
        raise httpx.ConnectTimeout(f"connect timed out: {exc!r}", request=request) from exc
    except OSError as exc:  # refused, unknown host (socket.gaierror), unreachable
        raise httpx.ConnectError(str(exc), request=request) from exc
    return _Connection(reader, writer)


def _head(request: httpx.Request) -> bytes:
    target = request.url.raw_path.decode("ascii")
    lines = [f"{request.method} {target} HTTP/1.1\r\n".encode("ascii")]
    lines += [name + b": " + value + b"\r\n" for name, value in request.headers.raw]
    return b"".join(lines) + b"\r\n"


async def _write(conn: _Connection, request: httpx.Request, timeout: float | None) -> None:
    chunked = request.headers.get("transfer-encoding", "").lower() == "chunked"
    try:
        conn.writer.write(_head(request))
        assert isinstance(request.stream, httpx.AsyncByteStream)
        async for chunk in request.stream:
            if chunked and chunk:
                conn.writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            elif chunk:
                conn.writer.write(chunk)
        if chunked:
            conn.writer.write(b"0\r\n\r\n")
        await asyncio.wait_for(conn.writer.drain(), timeout)
    except TimeoutError as exc:
        raise httpx.WriteTimeout(f"write timed out: {exc!r}", request=request) from exc
    except OSError as exc:
        raise httpx.WriteError(str(exc) or repr(exc), request=request) from exc


async def _line(conn: _Connection, timeout: float | None, request: httpx.Request) -> bytes:
    try:
        return await asyncio.wait_for(conn.reader.readuntil(b"\n"), timeout)
    except TimeoutError as exc:
        raise httpx.ReadTimeout(f"read timed out: {exc!r}", request=request) from exc
    except asyncio.IncompleteReadError as exc:
        message = "Server disconnected without sending a response."
        raise httpx.RemoteProtocolError(message, request=request) from exc
    except asyncio.LimitOverrunError as exc:
        raise httpx.RemoteProtocolError("header line too long", request=request) from exc
    except OSError as exc:
        raise httpx.ReadError(str(exc) or repr(exc), request=request) from exc


async def _read_head(
    conn: _Connection, timeout: float | None, request: httpx.Request
) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    while True:
        line = await _line(conn, timeout, request)
        version, _, rest = line.rstrip(b"\r\n").partition(b" ")
        code, _, reason = rest.partition(b" ")
        if not version.startswith(b"HTTP/1.") or not code.isdigit() or len(code) != 3:
            raise httpx.RemoteProtocolError(f"illegal status line: {line[:80]!r}", request=request)
        headers: list[tuple[bytes, bytes]] = []
        while (field := await _line(conn, timeout, request)) not in (b"\r\n", b"\n"):
            name, colon, value = field.partition(b":")
            if not colon:
                message = f"illegal header line: {field[:80]!r}"
                raise httpx.RemoteProtocolError(message, request=request)
            headers.append((name.strip(), value.strip()))
        if not 100 <= int(code) < 200:  # an interim answer (100 Continue): the real one follows
            return int(code), reason, headers


class _Body(httpx.AsyncByteStream):
    """The answer's body as it arrives; its connection goes back to the pool once it is read."""

    def __init__(
        self,
        pool: PlainTransport,
        address: tuple[str, int],
        conn: _Connection,
        request: httpx.Request,
        status: int,
        headers: list[tuple[bytes, bytes]],
        timeout: float | None,
    ) -> None:
        self._pool, self._address, self._conn = pool, address, conn
        self._request, self._timeout = request, timeout
        fields = {name.lower(): value.lower() for name, value in headers}
        self._chunked = fields.get(b"transfer-encoding") == b"chunked"
        none = request.method == "HEAD" or status in NO_BODY
        length = fields.get(b"content-length")
        self._length = 0 if none else (int(length) if length is not None else None)
        ends = self._chunked or none or length is not None  # else it ends with the connection
        self._keep = fields.get(b"connection") != b"close" and ends
        self._done = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            if self._chunked:
                async for chunk in self._chunks():
                    yield chunk
            else:
                async for chunk in self._sized(self._length):
                    yield chunk
        except TimeoutError as exc:
            raise httpx.ReadTimeout(f"read timed out: {exc!r}", request=self._request) from exc
        except asyncio.IncompleteReadError as exc:
            message = "Server disconnected before the whole body came."
            raise httpx.RemoteProtocolError(message, request=self._request) from exc
        except ValueError as exc:  # a chunk size that is not hexadecimal
            message = f"malformed chunked body: {exc}"
            raise httpx.RemoteProtocolError(message, request=self._request) from exc
        except OSError as exc:
            raise httpx.ReadError(str(exc) or repr(exc), request=self._request) from exc
        self._done = True

    async def _read(self, size: int) -> bytes:
        return await asyncio.wait_for(self._conn.reader.readexactly(size), self._timeout)

    async def _sized(self, length: int | None) -> AsyncIterator[bytes]:
        reader = self._conn.reader
        while length is None or length > 0:
            want = LINE if length is None else min(LINE, length)
            chunk = await asyncio.wait_for(reader.read(want), self._timeout)
            if not chunk:
                if length is None:
                    return  # the body ends with the connection
                raise asyncio.IncompleteReadError(chunk, want)
            if length is not None:
                length -= len(chunk)
            yield chunk

    async def _chunks(self) -> AsyncIterator[bytes]:
        while True:
            size_line = await _line(self._conn, self._timeout, self._request)
            size = int(size_line.split(b";")[0].strip() or b"x", 16)
            if size == 0:
                while await _line(self._conn, self._timeout, self._request) not in (
                    b"\r\n",
                    b"\n",
                ):
                    pass  # trailers: none that partway reads
                return
            chunk = await self._read(size + 2)  # the data and its CRLF
            yield chunk[:-2]

    async def aclose(self) -> None:
        if self._done and self._keep:
            self._pool.give_back(self._address, self._conn)
        else:
            self._conn.close()  # not read to its end: the connection is in an unknown state
        self._done, self._keep = False, False


def plain_client(base_url: str, **options: Any) -> httpx.AsyncClient:
    """An httpx client over PlainTransport. No proxies from the environment: the part bodies
    (client/rawput.py) go straight to the server too, and a proxy transport is httpcore."""
    return httpx.AsyncClient(
        base_url=base_url, transport=PlainTransport(), trust_env=False, **options
    )
