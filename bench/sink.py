"""The ceilings: a minimal ASGI upload sink on partway's server stack (uvicorn, httptools,
uvloop), discarding bodies or `pwrite`-ing them at their offset into a new file per upload (like
any upload server, it cannot count on overwriting pages already in the cache).

Ways to take a body: `socket` (the default, and the ceiling) reads the whole body from the socket
in 1 MiB blocks into one buffer and writes each block; a body with a `digest:
sha=` header is SHA-1 hashed block by block and checked (400 on a mismatch). `splice` moves it
socket → file inside the kernel (SocketBody.splice_into, as partway stores parts). Either way
the body is moved by partway's body pump, as in partway. `receive`
takes ASGI `receive` messages as most ASGI servers' apps do, and shows what that path costs.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import uvicorn

from partway.domain.ports import Steps
from partway.http.pump import BodyPump
from partway.http.server import Edge, EdgeLimits
from partway.http.socket_body import SocketBody, socket_body
from partway.metrics import Metrics

Scope = dict[str, Any]
BLOCK = 1024 * 1024


def _pump(
    body: SocketBody, fd: int | None, offset: int, sha1: bytes | None, matched: list[bool]
) -> Steps:
    """Read, (hash,) write; appends False to `matched` if the body does not match its SHA-1."""
    buffer = _buffers.pop() if _buffers else memoryview(bytearray(BLOCK))
    try:
        yield from _move(body, buffer[: min(BLOCK, body.length)], fd, offset, sha1, matched)
    finally:
        _buffers.append(buffer)


# Block buffers reused across bodies: a fresh one per body would map and fault in new pages for
# every part (list.pop/append are atomic under the GIL).
_buffers: list[memoryview] = []


def _move(
    body: SocketBody,
    block: memoryview,
    fd: int | None,
    offset: int,
    sha1: bytes | None,
    matched: list[bool],
) -> Steps:
    hasher = hashlib.sha1() if sha1 is not None else None
    remaining = body.length
    while remaining:
        view = block[: min(len(block), remaining)]
        yield from body.read_into(view)
        if hasher is not None:
            hasher.update(view)
        if fd is not None:
            os.pwrite(fd, view, offset)
        offset += len(view)
        remaining -= len(view)
    matched.append(hasher is None or hasher.digest() == sha1)


def _sha1_of(scope: Scope) -> bytes | None:
    for name, value in scope["headers"]:
        if name == b"digest" and value.startswith(b"sha="):
            return base64.b64decode(value[4:])
    return None


async def _via_receive(receive: Any, fd: int | None, offset: int) -> None:
    loop = asyncio.get_running_loop()
    more = True
    chunks: list[bytes] = []
    held = 0
    while more:
        message = await receive()
        body = message.get("body", b"")
        more = message.get("more_body", False)
        if fd is None:
            continue
        chunks.append(body)
        held += len(body)
        if held >= BLOCK or not more:
            block = b"".join(chunks)
            await loop.run_in_executor(None, os.pwrite, fd, block, offset)
            offset += len(block)
            chunks, held = [], 0


def make_app(directory: str | None, via: str) -> Any:
    files: dict[str, int] = {}

    def file_for(upload: str) -> int:
        if upload not in files:
            for old in files.values():
                os.close(old)
            files.clear()
            path = os.path.join(str(directory), upload)
            files[upload] = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        return files[upload]

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await receive()
            asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(32))
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        query = dict(p.split("=", 1) for p in scope["query_string"].decode().split("&") if "=" in p)
        if scope["method"] == "DELETE":
            # The upload is over: close its file, or its pages stay in writeback after the
            # bench deletes it, slowing whatever row runs next.
            fd = files.pop(query.get("upload", ""), None)
            if fd is not None:
                os.close(fd)
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        offset = int(query.get("offset", "0"))
        fd = file_for(query.get("upload", "x")) if directory else None
        direct = socket_body(scope) if via != "receive" else None
        matched: list[bool] = []
        if direct is not None:
            try:
                if via == "splice" and fd is not None:
                    await direct.drive(direct.splice_into(fd, offset, direct.length))
                else:
                    await direct.drive(_pump(direct, fd, offset, _sha1_of(scope), matched))
            finally:
                direct.settle()
        else:
            await _via_receive(receive, fd, offset)
        status = 200 if all(matched) else 400
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", help="pwrite bodies into a file per upload here (else discard)")
    parser.add_argument("--via", choices=["socket", "splice", "receive"], default="socket")
    args = parser.parse_args()
    # The sink moves bodies as partway does: the same edge protocol and body pump.
    edge = Edge(EdgeLimits(), BodyPump(16), Metrics())
    edge.pump.start()
    uvicorn.run(
        make_app(args.dir, args.via),
        host="127.0.0.1",
        port=args.port,
        http=edge.protocol(),
        loop="uvloop",
        log_level="warning",
    )


if __name__ == "__main__":
    main()
