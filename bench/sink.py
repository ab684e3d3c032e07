"""The ceilings: a minimal ASGI upload sink on the same server stack as partway (uvicorn with
httptools and uvloop), discarding bodies or `pwrite`-ing them at their offset into a new file per
upload (like any upload server, it cannot count on overwriting pages already in the cache)."""

from __future__ import annotations

import argparse
import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import uvicorn

Scope = dict[str, Any]


def make_app(directory: str | None) -> Any:
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
            message = await receive()
            asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(32))
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        query = dict(p.split("=", 1) for p in scope["query_string"].decode().split("&") if "=" in p)
        offset = int(query.get("offset", "0"))
        fd = file_for(query.get("upload", "x")) if directory else None
        more = True
        chunks: list[bytes] = []
        held = 0
        loop = asyncio.get_running_loop()
        while more:
            message = await receive()
            body = message.get("body", b"")
            more = message.get("more_body", False)
            if fd is None:
                continue
            chunks.append(body)
            held += len(body)
            if held >= 1 << 20 or not more:
                block = b"".join(chunks)
                await loop.run_in_executor(None, os.pwrite, fd, block, offset)
                offset += len(block)
                chunks, held = [], 0
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", help="pwrite bodies into a file per upload here (else discard)")
    args = parser.parse_args()
    uvicorn.run(
        make_app(args.dir),
        host="127.0.0.1",
        port=args.port,
        http="httptools",
        loop="uvloop",
        log_level="warning",
    )


if __name__ == "__main__":
    main()
