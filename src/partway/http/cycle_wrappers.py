"""What the HTTP edge (server.py) wraps around a request's cycle: the response head held for
its first body bytes, the close of a connection whose request body is unread, 1xx responses,
the cutoff of a link download (cutoff.py), and whether the client is still there.

The cycle owns these wrappers (its transport and send, its scope's extensions); they reach it
through a weak reference. A strong one made each request a reference cycle, left to the cyclic
collector: with 1,000 uploads running, its passes held every thread for up to 160 ms.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

from .interim import InterimSender, interim_head

# A scope extension: () -> bool, whether the client has closed its connection (http/context.py
# drops a request whose client left while it waited for its turn).
CLIENT_GONE_EXTENSION = "partway.client_gone"


def client_gone(cycle: RequestResponseCycle) -> Callable[[], bool]:
    """Gone also once the cycle itself is (its connection closed)."""
    ref = weakref.ref(cycle)

    def gone() -> bool:
        held = ref()
        return held is None or held.disconnected

    return gone


def closing_if_unread(
    cycle: RequestResponseCycle,
) -> Callable[[Any], Awaitable[None]]:
    """The cycle's `send`, marking the connection to close if the response starts while the
    request body is still unread: its remaining bytes (or a client's next request sent after a
    refusal of `Expect: 100-continue`) could otherwise be read as the next request."""
    ref = weakref.ref(cycle)
    send = type(cycle).send  # the class's: the cycle's bound method would hold the cycle

    async def send_closing(message: Any) -> None:
        held = ref()
        if held is None:
            return  # the connection is gone, and this request with it
        if message["type"] == "http.response.start" and held.more_body:
            held.keep_alive = False
        await send(held, message)

    return send_closing


def interim_sender(cycle: RequestResponseCycle) -> InterimSender:
    """Writes a 1xx response for the request's route (http/interim.py) while its final
    response has not started; written directly, not through HeadHeld, which would hold it."""
    ref = weakref.ref(cycle)

    def send(status: int, reason: str, headers: Mapping[str, str]) -> None:
        held = ref()
        if held is None:
            return
        transport: asyncio.Transport = getattr(held.transport, "_transport", held.transport)
        if 100 <= status < 200 and not held.response_started and not transport.is_closing():
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
        self._cycle = weakref.ref(cycle)
        self._head_request = cycle.scope["method"] == "HEAD"
        # The protocol's method: held strongly it would hold the protocol, which holds the cycle.
        self._close = weakref.WeakMethod(close)
        self._head: bytes | None = None
        self._held = False

    def write(self, data: bytes) -> None:
        cycle = self._cycle()
        if self._head is not None:
            head, self._head = self._head, None
            self._transport.writelines([head, data])  # uvloop: one writev
        elif (
            cycle is not None
            and cycle.response_started
            and not self._held
            and not self._head_request
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
        close = self._close()
        if close is not None:
            close()
        else:
            self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def aborter(cycle: RequestResponseCycle, transport: asyncio.Transport) -> Callable[[], None]:
    """The cutoff.py extension: close now; a disconnected cycle sends and logs nothing more."""

    ref = weakref.ref(cycle)

    def abort() -> None:
        held = ref()
        if held is not None:
            held.disconnected = True
            held.keep_alive = False
        transport.close()

    return abort
