"""client/plainhttp.py against asyncio servers of the test's own: answers, keep-alive reuse, a
connection the server closed while idle, chunked and streamed bodies, and each failure as the
httpx exception the retry policy (client/retry.py) classifies as it does httpcore's."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Awaitable, Callable

import httpx
import pytest

from partway.client.plainhttp import plain_client
from partway.client.retry import never_sent, never_works

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes] | None:
    """The request's head and body (by its content-length); None once the client closed."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return head, await reader.readexactly(length)


def answer(status: int, body: bytes, extra: str = "") -> bytes:
    return f"HTTP/1.1 {status} X\r\ncontent-length: {len(body)}\r\n{extra}\r\n".encode() + body


async def with_server(handler: Handler, work: Callable[[str], Awaitable[None]]) -> None:
    """Serve with `handler` while `work` runs; then close every connection it accepted (a
    handler still waiting would leave its socket to the garbage collector's warning)."""
    writers: list[asyncio.StreamWriter] = []

    async def tracked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        await handler(reader, writer)

    server = await asyncio.start_server(tracked, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        await work(f"http://127.0.0.1:{port}")
    finally:
        server.close()
        for writer in writers:
            writer.close()
        await server.wait_closed()
        await asyncio.sleep(0)  # the transports' close callbacks


def test_json_answers_on_one_kept_alive_connection() -> None:
    connections: list[int] = []
    heads: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        while (got := await read_request(reader)) is not None:
            heads.append(got[0])
            writer.write(answer(201, json.dumps({"echo": json.loads(got[1] or b"{}")}).encode()))
            await writer.drain()
        writer.close()

    async def work(base: str) -> None:
        async with plain_client(base) as client:
            first = await client.post("/a?x=1", json={"n": 1}, headers={"X-Key": "k"})
            second = await client.get("/b")
        assert first.status_code == 201 and first.json() == {"echo": {"n": 1}}
        assert second.json() == {"echo": {}}

    asyncio.run(with_server(handler, work))
    assert len(connections) == 1
    assert heads[0].startswith(b"POST /a?x=1 HTTP/1.1\r\n") and b"x-key: k" in heads[0].lower()


def test_a_connection_the_server_closed_while_idle_is_not_reused() -> None:
    connections: list[int] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        if await read_request(reader) is not None:
            writer.write(answer(200, b"{}"))  # keep-alive by default, then closed while idle
            await writer.drain()
        writer.close()

    async def work(base: str) -> None:
        async with plain_client(base) as client:
            assert (await client.get("/")).status_code == 200
            await asyncio.sleep(0.05)  # the close reaches the client
            assert (await client.get("/")).status_code == 200

    asyncio.run(with_server(handler, work))
    assert len(connections) == 2


def test_chunked_and_close_delimited_bodies_stream() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        got = await read_request(reader)
        assert got is not None
        if got[0].startswith(b"GET /chunked"):
            writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
            writer.write(b"3\r\nabc\r\n4;x=y\r\ndefg\r\n0\r\n\r\n")
        else:
            writer.write(b"HTTP/1.1 200 OK\r\n\r\n" + b"z" * 200_000)
        await writer.drain()
        writer.close()

    async def work(base: str) -> None:
        async with plain_client(base) as client:
            assert (await client.get("/chunked")).content == b"abcdefg"
            async with client.stream("GET", "/until-close") as res:
                parts = [chunk async for chunk in res.aiter_raw()]
        assert b"".join(parts) == b"z" * 200_000 and len(parts) > 1

    asyncio.run(with_server(handler, work))


def test_a_refused_connection_never_works_and_was_never_sent() -> None:
    with socket.socket() as probe:  # a port with nothing listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    async def work() -> None:
        async with plain_client(f"http://127.0.0.1:{port}") as client:
            await client.get("/")

    with pytest.raises(httpx.ConnectError) as caught:
        asyncio.run(work())
    assert never_works(caught.value) and never_sent(caught.value)


def failure_of(handler: Handler, **options: object) -> httpx.TransportError:
    caught: list[httpx.TransportError] = []

    async def work(base: str) -> None:
        async with plain_client(base, **options) as client:
            try:
                await client.post("/", json={})
            except httpx.TransportError as exc:
                caught.append(exc)

    asyncio.run(with_server(handler, work))
    assert caught, "the request should have failed"
    return caught[0]


def test_a_connection_closed_without_an_answer_may_have_been_carried_out() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.close()

    exc = failure_of(handler)
    assert isinstance(exc, httpx.RemoteProtocolError) and "disconnect" in str(exc).lower()
    assert not never_works(exc) and not never_sent(exc)  # retried: the answer may be lost


def test_something_that_does_not_speak_http_never_works() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"SSH-2.0-OpenSSH_9.6\r\n")
        await writer.drain()
        writer.close()

    exc = failure_of(handler)
    assert isinstance(exc, httpx.RemoteProtocolError) and never_works(exc)


def test_a_body_cut_short_and_a_silent_server_are_transport_errors() -> None:
    async def cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc")
        await writer.drain()
        writer.close()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await asyncio.sleep(1)
        writer.close()

    assert isinstance(failure_of(cut), httpx.RemoteProtocolError)
    assert isinstance(failure_of(silent, timeout=0.1), httpx.ReadTimeout)
