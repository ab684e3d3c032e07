"""The HTTP edge: uvicorn's httptools protocol with partway's limits and two speed-ups.

Limits, so that no client can hold more than its share: a deadline for the request head (from
the connection's start, and from the first byte of each later request), at most
`max_header_bytes` of head and `max_header_count` header lines (431), a cap on open connections
(503 to new ones, open ones untouched), upgrades refused without reading a byte past the head,
and a response that leaves while its request body is still on the wire closes the connection
(the stream can carry no other request). The parser's own rejections get the Apideck JSON error
body like every other error.

Speed-ups: a handler may have the body pump take a request body straight from the socket
(`socket_body.py`), and a response's head leaves in one send with its first body bytes.

This subclasses uvicorn internals: `fast_path.fast_path_problem` checks at start that they are
still what this code expects, and `partway serve` falls back to uvicorn's stock protocol
otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from ..metrics import Metrics
from .cutoff import ABORT_EXTENSION
from .cycle_wrappers import (
    CLIENT_GONE_EXTENSION,
    HeadHeld,
    aborter,
    client_gone,
    closing_if_unread,
    interim_sender,
)
from .errors import error_body
from .idle import IdleConnections
from .interim import INTERIM_EXTENSION
from .pump import BodyPump, Pace
from .socket_body import BODY_EXTENSION, INLINE_BYTES, SocketBody

log = logging.getLogger("partway.http")

# A connection closed with request bytes unread first sends its FIN and reads (and drops) what
# still comes for this long or this many bytes: closing at once would send a reset, which can
# destroy the answer (408, 413, 422…) before the client has read it.
LINGER_SECONDS = 2.0
LINGER_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class EdgeLimits:
    max_header_bytes: int = 64 * 1024
    max_header_count: int = 100
    header_timeout: float = 20.0
    send_timeout: float = 60.0  # a client that reads nothing of a response for this long
    max_connections: int = 10_000
    # Past half of max_connections, an idle keep-alive connection is closed after this (idle.py).
    busy_keepalive_timeout: float = 1.0
    pace: Pace = field(default_factory=Pace)


class Edge:
    """What every connection of one server shares: limits, the body pump, the counts."""

    def __init__(self, limits: EdgeLimits, pump: BodyPump, metrics: Metrics) -> None:
        self.limits = limits
        self.pump = pump
        self.metrics = metrics
        self.open_connections = 0
        metrics.open_connections.set_function(lambda: self.open_connections)
        self.idle = IdleConnections(
            lambda: self.open_connections,
            busy_from=max(1, limits.max_connections // 2),
            busy_timeout=limits.busy_keepalive_timeout,
            on_closed=lambda reason: metrics.idle_closed.labels(reason).inc(),
        )
        metrics.idle_connections.set_function(lambda: len(self.idle))

    def refused(self, reason: str) -> None:
        self.metrics.refused.labels(reason).inc()

    def protocol(self) -> type[EdgeProtocol]:
        """The protocol class for uvicorn's `http` setting, bound to this edge."""
        return type("BoundEdgeProtocol", (EdgeProtocol,), {"edge": self})


class _Refused(Exception):
    """Raised in a parser callback to stop parsing; `EdgeProtocol._refusal` says why."""


class EdgeProtocol(HttpToolsProtocol):
    edge: Edge
    socket_fd = -1
    _counted = False
    _refusal: tuple[int, str, str] | None = None
    _head_timer: asyncio.TimerHandle | None = None
    _head_bytes: int | None = 0  # bytes of the request head so far; None once it is complete
    _tail = b""  # the last bytes of head seen, to find a terminator split across two reads
    _header_count = 0
    _socket_body: SocketBody | None = None
    _lingering = -1  # bytes dropped since a lingering close began; -1: not closing
    _write_timer: asyncio.TimerHandle | None = None

    # Connections
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        edge = self.edge
        if edge.open_connections >= edge.limits.max_connections and not edge.idle.reclaim():
            edge.refused("too_many_connections")
            message = "too many open connections; retry soon"
            # No lingering: a flood of refused connections must not hold descriptors.
            self._refuse(503, "ServiceUnavailableError", message, linger=False)
            return
        edge.open_connections += 1
        self._counted = True
        edge.idle.watch(self.loop)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            self.socket_fd = sock.fileno()
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self._socket_body = None  # it holds this protocol: a cycle left to the collector
        self.edge.idle.working(self)
        if self._counted:
            self._counted = False
            self.edge.open_connections -= 1
        self._disarm_head_timer()
        _cancel(self._write_timer)
        self._write_timer = None

    def _arm_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(
                self.edge.limits.header_timeout, self._head_timed_out
            )

    def _disarm_head_timer(self) -> None:
        _cancel(self._head_timer)
        self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or self._head_bytes is None:
            return
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a request is being served; the next read arms the timer again
        self.edge.refused("head_timeout")
        if self._head_bytes:
            timeout = self.edge.limits.header_timeout
            message = f"the request head did not arrive within {timeout:g} s"
            self._refuse(408, "RequestTimeoutError", message)
        else:
            self.transport.close()  # nothing was asked: nobody to answer

    def close_lingering(self) -> None:
        """Close after the response, without a reset that could destroy it (LINGER_SECONDS)."""
        transport = self.transport
        if transport.is_closing() or self._lingering >= 0:
            return
        self._lingering = 0
        self._disarm_head_timer()
        try:
            transport.write_eof()  # the FIN follows whatever is still buffered
            transport.resume_reading()
        except (OSError, RuntimeError, NotImplementedError):
            transport.close()
            return
        # abort, not close: close would wait for a client that does not read to drain our buffer
        self.loop.call_later(LINGER_SECONDS, transport.abort)

    # Bytes in
    def data_received(self, data: bytes) -> None:
        if self._lingering >= 0:
            self._lingering += len(data)
            if self._lingering > LINGER_BYTES:
                self.transport.close()
            return
        self._unset_keepalive_if_required()
        if self._head_bytes is not None:
            self._arm_head_timer()
            self._head_bytes += self._head_part(data)
            if self._head_bytes > self.edge.limits.max_header_bytes:
                self.edge.refused("head_too_large")
                limit = self.edge.limits.max_header_bytes
                self._refuse(
                    431, "RequestHeaderFieldsTooLargeError", f"request head over {limit} bytes"
                )
                return
        try:
            self.parser.feed_data(data)
            if self._head_bytes == 0:
                # A message ended in this read and the next head may have begun in its last
                # bytes: a terminator split across this read and the next must still be seen.
                self._tail = data[-3:]
        except httptools.HttpParserUpgrade:
            # Only a body-less request asking for an upgrade gets here (one with a body was
            # refused in on_headers_complete): it is served as HTTP/1.1 and the connection
            # closed after it, so no byte past its head is ever read as another request.
            self.flow.pause_reading()
        except httptools.HttpParserError as exc:
            if self._refusal is not None:
                self._refuse(*self._refusal)
            else:
                self.edge.refused("malformed")
                reason = str(exc) or type(exc).__name__
                self._refuse(400, "RequestValidationError", f"malformed HTTP request: {reason}")

    def _head_part(self, data: bytes) -> int:
        """How many bytes of `data` belong to the request head (all of them until its end)."""
        joined = self._tail + data[:3]
        end = joined.find(b"\r\n\r\n")
        if end >= 0:
            return end + 4 - len(self._tail)
        end = data.find(b"\r\n\r\n")
        if end >= 0:
            return end + 4
        self._tail = (self._tail + data)[-3:]
        return len(data)

    def pause_writing(self) -> None:
        """The client stopped reading: it has the send timeout to start again, or the
        connection is dropped (nothing else would ever free its slot)."""
        super().pause_writing()
        if self._write_timer is None:
            timeout = self.edge.limits.send_timeout
            self._write_timer = self.loop.call_later(timeout, self._send_timed_out)

    def resume_writing(self) -> None:
        super().resume_writing()
        _cancel(self._write_timer)
        self._write_timer = None

    def _send_timed_out(self) -> None:
        self._write_timer = None
        self.edge.refused("send_timeout")
        log.info("dropped %s: it read nothing of a response for a while", _peer(self.client))
        self.transport.abort()

    def send_400_response(self, msg: str) -> None:
        self._refuse(400, "RequestValidationError", msg)

    def _refuse(self, status: int, type_name: str, message: str, linger: bool = True) -> None:
        """Answer with the Apideck error body and close, without running a request."""
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            # Bad bytes pipelined behind a request being served: that response goes out whole,
            # then the connection closes; nothing more is read.
            log.info("refused %s after the current request: %s", _peer(self.client), message)
            cycle.keep_alive = False
            self.flow.pause_reading()
            return
        log.info("refused %s: %d %s", _peer(self.client), status, message)
        body = json.dumps(error_body(status, type_name, message)).encode()
        head = [
            f"HTTP/1.1 {status} {_phrase(status)}",
            "content-type: application/json",
            f"content-length: {len(body)}",
            "connection: close",
        ]
        if status == 503:
            head.append("retry-after: 1")
        self.transport.write("\r\n".join(head).encode() + b"\r\n\r\n" + body)
        if linger:
            self.close_lingering()
        else:
            self.transport.close()

    # Parser callbacks
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_count = 0

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > self.edge.limits.max_header_count:
            limit = self.edge.limits.max_header_count
            self.edge.refused("too_many_headers")
            self._refusal = (431, "RequestHeaderFieldsTooLargeError", f"over {limit} headers")
            raise _Refused()
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._disarm_head_timer()
        self._head_bytes = None
        self._socket_body = None
        upgrade, length, chunked = _framing(self.headers)
        # llhttp takes CONNECT as an upgrade too, and never parses its body.
        upgrade = upgrade or self.parser.get_method() == b"CONNECT"
        if upgrade and (chunked or length):
            self.edge.refused("upgrade")
            self._refusal = (400, "RequestValidationError", "upgrade is not supported")
            raise _Refused()
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is None or cycle.scope is not self.scope:
            return
        if upgrade:
            cycle.keep_alive = False
        cycle.transport = HeadHeld(self.transport, cycle, self.close_lingering)  # type: ignore[assignment]
        cycle.send = closing_if_unread(cycle)  # type: ignore[method-assign,assignment]
        extensions: dict[str, Any] = self.scope.setdefault("extensions", {})
        extensions[INTERIM_EXTENSION] = interim_sender(cycle)
        extensions[ABORT_EXTENSION] = aborter(cycle, self.transport)
        extensions[CLIENT_GONE_EXTENSION] = client_gone(cycle)
        if self.scheme != "http" or chunked or not length:
            return  # TLS (the bytes on the socket are not the body), chunked, or no body
        limits = self.edge.limits
        self._socket_body = SocketBody(self, cycle, length, self.edge.pump, limits.pace)
        extensions[BODY_EXTENSION] = self._socket_body
        if length > INLINE_BYTES:
            # The handler takes a large body from the socket, after its turn (fair_share.py):
            # until then its bytes wait in the kernel, not in this process (1,000 uploads in
            # line held ~100 MiB of early bytes here). Reading the body through ASGI resumes.
            self.flow.pause_reading()

    def on_body(self, body: bytes) -> None:
        if self._socket_body is not None:
            self._socket_body.delivered += len(body)
        super().on_body(body)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._next_head()

    def on_response_complete(self) -> None:
        if self._lingering >= 0:
            return  # closing: no pipelined request runs, no keep-alive timer
        super().on_response_complete()
        if getattr(self, "timeout_keep_alive_task", None) is not None:
            self.edge.idle.waiting(self, self.loop)

    def _unset_keepalive_if_required(self) -> None:
        super()._unset_keepalive_if_required()
        self.edge.idle.working(self)

    def _next_head(self) -> None:
        self._head_bytes, self._tail = 0, b""

    def body_read_directly(self, cycle: RequestResponseCycle) -> None:
        """The rest of the body came off the socket past the parser, which still expects it; a
        fresh parser starts at the next request, as if this one had completed."""
        self.parser = httptools.HttpRequestParser(self)
        with contextlib.suppress(AttributeError):  # httptools < 0.6.3
            self.parser.set_dangerous_leniencies(lenient_data_after_close=True)
        self._socket_body = None
        self._next_head()
        cycle.more_body = False
        cycle.message_event.set()


def _framing(headers: list[tuple[bytes, bytes]]) -> tuple[bool, int, bool]:
    """(asks for an upgrade, Content-Length or 0, chunked) of a request's headers."""
    connection: list[bytes] = []
    upgrade = False
    length = 0
    chunked = False
    for name, value in headers:
        if name == b"connection":
            connection += [token.strip().lower() for token in value.split(b",")]
        elif name == b"upgrade":
            upgrade = True
        elif name == b"content-length":
            with contextlib.suppress(ValueError):
                length = int(value)
        elif name == b"transfer-encoding":
            chunked = True
    return upgrade and b"upgrade" in connection, length, chunked


def _cancel(timer: asyncio.TimerHandle | None) -> None:
    if timer is not None:
        timer.cancel()


def _phrase(status: int) -> str:
    return HTTPStatus(status).phrase


def _peer(client: tuple[str, int] | None) -> str:
    return f"{client[0]}:{client[1]}" if client else "a client"
