"""What the HTTP edge (server.py) wraps around a request's cycle: the response head held for
its first body bytes, the close of a connection whose request body is unread, 1xx responses,
the cutoff of a link download (cutoff.py), and whether the client is still there."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

from .interim import InterimSender, interim_head

# A scope extension: () -> bool, whether the client has closed its connection (http/context.py
# drops a request whose client left while it waited for its turn).
CLIENT_GONE_EXTENSION = "partway.client_gone"


def client_gone(cycle: RequestResponseCycle) -> Callable[[], bool]:
    return lambda: cycle.disconnected


def closing_if_unread(
    cycle: RequestResponseCycle, send: Callable[[Any], Awaitable[None]]
) -> Callable[[Any], Awaitable[None]]:
    """`send` that marks the connection to close if the response starts while the request body
    is still unread: its remaining bytes (or a client's next request sent after a refusal of
    `Expect: 100-continue`) could otherwise be read as the next request."""

    async def send_closing(message: Any) -> None:
        if message["type"] == "http.response.start" and cycle.more_body:
            cycle.keep_alive = False
        await send(message)

    return send_closing


def interim_sender(cycle: RequestResponseCycle) -> InterimSender:
    """Writes a 1xx response for the request's route (http/interim.py) while its final
    response has not started; written directly, not through HeadHeld, which would hold it."""

    def send(status: int, reason: str, headers: Mapping[str, str]) -> None:
        transport: asyncio.Transport = getattr(cycle.transport, "_transport", cycle.transport)
        if 100 <= status < 200 and not cycle.response_started and not transport.is_closing():
            transport.write(interim_head(status, reason, headers))

    return send


class HeadHeld:
    """A request's view of the connection's transport that holds the response head until the
    first body write, so both leave in one send: on loopback a send costs the sender ~40 µs of
    event-loop time (the receiver's TCP work runs in it), two per response before. A HEAD
    response has no body write: its head leaves at once."""

    def __init__(
        self,
        transport: asyncio.Transport,
        cycle: RequestResponseCycle,
        close: Callable[[], None],
    ) -> None:
        self._transport = transport
        self._cycle = cycle
        self._close = close
        self._head: bytes | None = None
        self._held = False

    def write(self, data: bytes) -> None:
        if self._head is not None:
            head, self._head = self._head, None
            self._transport.writelines([head, data])  # uvloop: one writev
        elif (
            self._cycle.response_started
            and not self._held
            and self._cycle.scope["method"] != "HEAD"
        ):
            # The cycle's first write once the response started is its head (a 100 Continue
            # goes out before that).
            self._head, self._held = data, True
        else:
            self._transport.write(data)

    def close(self) -> None:
        if self._head is not None:
            self._transport.write(self._head)
            self._head = None
        self._close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def aborter(cycle: RequestResponseCycle, transport: asyncio.Transport) -> Callable[[], None]:
    """The cutoff.py extension: close now; a disconnected cycle sends and logs nothing more."""

    def abort() -> None:
        cycle.disconnected = True
        cycle.keep_alive = False
        transport.close()

    return abort
