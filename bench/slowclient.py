"""The load side of the many-slow-clients benchmark (bench/slow.py): asyncio on uvloop, a
hand-written HTTP/1.1 client over asyncio streams, one connection per upload.

Two roles, each a process of its own that writes one JSON object to the file --result names:

- `uploads`: runs its share of the planned uploads concurrently. Each upload is paced to its own
  rate by a token bucket (small writes, sleeping to keep the rate; after a stall it does not burst
  to catch up, as a WAN link would not), on a socket with a small send buffer; each has a deadline
  and ends as a record: completed or failed (at which stage, why).
- `aux`: opens the idle keep-alive connections (each sends one cheap request, then sits idle),
  prints `ready`, then on `go` (stdin) runs the API latency probe, open-loop at a fixed rate on a
  tenant of its own, until `stop`; it reports the probe's latencies and what became of the idle
  connections (closed by the server, when; reopened if asked).

Protocols: partway's upload sessions (create, get part size, PUT parts, finish) and tus 1.0
(POST with Upload-Length, PATCH with Upload-Offset, HEAD; the @tus/server peer).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import mmap
import os
import resource
import socket
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import uvloop

SESSIONS = "/file-storage/upload-sessions"
# Send buffer of an upload's socket: small, so the pacing shows in what the server receives, not
# in megabytes parked in the kernel (and 1,000 stalled uploads cannot pin gigabytes there).
SNDBUF = 256 * 1024
MIN_WRITE, MAX_WRITE = 16 * 1024, 64 * 1024
# A paced sender may run this far behind its schedule and catch up (timer jitter), no further.
BURST_SECONDS = 0.05
TUS_PART = 8 * 1024 * 1024


def raise_nofile() -> int:
    """Raise this process's open-file soft limit to its hard limit; the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class HttpError(Exception):
    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"HTTP {status}: {body[:200]!r}")
        self.status = status


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def expect(self, *statuses: int) -> Reply:
        if self.status not in statuses:
            raise HttpError(self.status, self.body)
        return self


class Pacer:
    """A token bucket at `rate` bytes/s, shared by an upload's requests so its pace carries over
    from one part to the next. Writes of 16–64 KiB (about 10 ms worth at the rate)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.chunk = int(min(MAX_WRITE, max(MIN_WRITE, rate * 0.01)))
        self._next: float | None = None

    async def send(
        self, writer: asyncio.StreamWriter, body: memoryview, reply: asyncio.Future[Reply]
    ) -> int:
        """Send `body` at the rate, stopping early if `reply` arrives; the bytes sent."""
        loop = asyncio.get_running_loop()
        if self._next is None:
            self._next = loop.time()
        sent = 0
        for start in range(0, len(body), self.chunk):
            if reply.done():
                return sent  # the server answered before the whole body: nothing more to send
            delay = self._next - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            piece = body[start : start + self.chunk]
            writer.write(piece)
            await writer.drain()
            sent += len(piece)
            # No bursting after a stall: a schedule further behind than BURST_SECONDS restarts now.
            self._next = max(self._next, loop.time() - BURST_SECONDS) + len(piece) / self.rate
        return sent


class Conn:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str):
        self.reader, self.writer, self.host = reader, writer, host
        self.usable = True
        self.opened = time.monotonic()

    @classmethod
    async def open(cls, url: str, sndbuf: int | None = None) -> Conn:
        parts = urlsplit(url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        reader, writer = await asyncio.open_connection(host, port, limit=1 << 20)
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if sndbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
        return cls(reader, writer, f"{host}:{port}")

    def close(self) -> None:
        self.usable = False
        self.writer.close()

    async def request(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        body: bytes | memoryview = b"",
        pacer: Pacer | None = None,
    ) -> Reply:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        if body or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(body)}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if pacer is None:
            self.writer.write(head + bytes(body))
            reply = await self._reply(method == "HEAD")
        else:
            self.writer.write(head)
            # The reply is read alongside the body: a server may answer (and close) early.
            pending = asyncio.ensure_future(self._reply(False))
            sent = 0
            try:
                with contextlib.suppress(ConnectionError):
                    sent = await pacer.send(self.writer, memoryview(body), pending)
                if sent < len(body):
                    self.usable = False  # answered (or cut) before the body's end: spent
                reply = await pending
            finally:
                if not pending.done():
                    pending.cancel()
        if reply.headers.get("connection", "").lower() == "close":
            self.close()
        return reply

    async def _reply(self, head_only: bool) -> Reply:
        line = await self.reader.readline()
        if not line:
            self.usable = False
            raise ConnectionError("server closed the connection")
        status = int(line.split()[1])
        headers: dict[str, str] = {}
        while (line := await self.reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if head_only or status in (204, 304):
            body = b""
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while size := int((await self.reader.readline()).split(b";")[0], 16):
                body += await self.reader.readexactly(size)
                await self.reader.readline()
            await self.reader.readline()
        elif "content-length" in headers:
            body = await self.reader.readexactly(int(headers["content-length"]))
        else:
            body = await self.reader.read()
            self.usable = False
        return Reply(status, headers, body)


class Progress:
    """Where an upload is: its stage, when it first reached each (seconds since its start),
    and the body bytes the server has acknowledged."""

    def __init__(self) -> None:
        self._began = time.monotonic()
        self.stage = "connect"
        self.marks: dict[str, float] = {}
        self.sent = 0

    def at(self, stage: str) -> None:
        self.stage = stage
        self.marks.setdefault(stage, round(time.monotonic() - self._began, 3))


# the two protocols


class Protocol:
    """What an upload, an idle connection's request and the probe's operations are in one
    protocol."""

    def __init__(self, url: str, key: str) -> None:
        self.url, self.key = url, key

    def idle_request(self) -> tuple[str, str, dict[str, str]]:
        raise NotImplementedError

    async def upload(
        self, conn: Conn, name: str, body: memoryview, pacer: Pacer, note: Progress
    ) -> str:
        """Upload `body` as `name`, telling `note` each stage it reaches; the stored upload's
        id."""
        raise NotImplementedError

    async def probe_target(self, conn: Conn) -> str:
        raise NotImplementedError

    def probe_ops(self, target: str) -> list[tuple[str, Any]]:
        raise NotImplementedError


class Partway(Protocol):
    def headers(self, consumer: str = "bench") -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.key}",
            "x-apideck-app-id": "bench",
            "x-apideck-consumer-id": consumer,
        }

    def idle_request(self) -> tuple[str, str, dict[str, str]]:
        return "GET", "/healthz", {}

    async def create(self, conn: Conn, name: str, size: int, consumer: str) -> str:
        body = json.dumps({"name": name, "parent_folder_id": "root", "size": size}).encode()
        headers = {**self.headers(consumer), "Content-Type": "application/json"}
        reply = await conn.request("POST", SESSIONS, headers, body)
        sid: str = reply.expect(201).json()["data"]["id"]
        return sid

    async def upload(
        self, conn: Conn, name: str, body: memoryview, pacer: Pacer, note: Progress
    ) -> str:
        size = len(body)
        note.at("create")
        sid = await self.create(conn, name, size, "bench")
        note.at("get")
        got = await conn.request("GET", f"{SESSIONS}/{sid}", self.headers())
        part_size = int(got.expect(200).json()["data"]["part_size"])
        headers = {**self.headers(), "Content-Type": "application/octet-stream"}
        for number, offset in enumerate(range(0, size, part_size)):
            note.at("put")
            path = f"{SESSIONS}/{sid}?part_number={number}"
            part = body[offset : offset + part_size]
            (await conn.request("PUT", path, headers, part, pacer)).expect(200)
            note.sent = offset + len(part)
        note.at("finish")
        finished = await conn.request("POST", f"{SESSIONS}/{sid}/finish", self.headers())
        file_id: str = finished.expect(201).json()["data"]["id"]
        return file_id

    async def probe_target(self, conn: Conn) -> str:
        return await self.create(conn, f"probe-target-{os.getpid()}.bin", 1 << 20, "probe")

    def probe_ops(self, target: str) -> list[tuple[str, Any]]:
        h = self.headers("probe")
        counter = iter(range(10**9))

        async def get(conn: Conn, timed: Any) -> None:
            (await timed("get session", conn.request("GET", f"{SESSIONS}/{target}", h))).expect(200)

        async def create_abort(conn: Conn, timed: Any) -> None:
            name = f"probe-abort-{os.getpid()}-{next(counter)}.bin"
            sid = await timed("create", self.create(conn, name, 1024, "probe"))
            (await timed("abort", conn.request("DELETE", f"{SESSIONS}/{sid}", h))).expect(200)

        async def small(conn: Conn, timed: Any) -> None:
            name = f"probe-small-{os.getpid()}-{next(counter)}.bin"
            sid = await timed("create", self.create(conn, name, 1024, "probe"))
            path = f"{SESSIONS}/{sid}?part_number=0"
            (await timed("put 1 KiB", conn.request("PUT", path, h, b"x" * 1024))).expect(200)
            finish = conn.request("POST", f"{SESSIONS}/{sid}/finish", h)
            (await timed("finish", finish)).expect(201)

        return [("get session", get), ("create+abort", create_abort), ("upload 1 KiB", small)]


TUS_HEADERS = {"Tus-Resumable": "1.0.0"}


class Tus(Protocol):
    def idle_request(self) -> tuple[str, str, dict[str, str]]:
        return "OPTIONS", "/files", TUS_HEADERS

    async def create(self, conn: Conn, name: str, size: int) -> str:
        meta = "filename " + base64.b64encode(name.encode()).decode()
        headers = {**TUS_HEADERS, "Upload-Length": str(size), "Upload-Metadata": meta}
        reply = (await conn.request("POST", "/files", headers)).expect(201)
        return urlsplit(reply.headers["location"]).path

    async def upload(
        self, conn: Conn, name: str, body: memoryview, pacer: Pacer, note: Progress
    ) -> str:
        size = len(body)
        note.at("create")
        location = await self.create(conn, name, size)
        offset = 0
        while offset < size:
            note.at("patch")
            headers = {
                **TUS_HEADERS,
                "Upload-Offset": str(offset),
                "Content-Type": "application/offset+octet-stream",
            }
            part = body[offset : offset + TUS_PART]
            reply = (await conn.request("PATCH", location, headers, part, pacer)).expect(204)
            offset = int(reply.headers["upload-offset"])
            note.sent = offset
        return location.rstrip("/").rsplit("/", 1)[-1]

    async def probe_target(self, conn: Conn) -> str:
        return await self.create(conn, f"probe-target-{os.getpid()}.bin", 1 << 20)

    def probe_ops(self, target: str) -> list[tuple[str, Any]]:
        h = TUS_HEADERS
        counter = iter(range(10**9))

        async def head(conn: Conn, timed: Any) -> None:
            (await timed("HEAD upload", conn.request("HEAD", target, h))).expect(200)

        async def create_abort(conn: Conn, timed: Any) -> None:
            location = await timed(
                "create", self.create(conn, f"probe-abort-{next(counter)}.bin", 1024)
            )
            (await timed("terminate", conn.request("DELETE", location, h))).expect(204)

        async def small(conn: Conn, timed: Any) -> None:
            location = await timed(
                "create", self.create(conn, f"probe-small-{next(counter)}.bin", 1024)
            )
            headers = {
                **h,
                "Upload-Offset": "0",
                "Content-Type": "application/offset+octet-stream",
            }
            patch = conn.request("PATCH", location, headers, b"x" * 1024)
            (await timed("patch 1 KiB", patch)).expect(204)

        return [("HEAD upload", head), ("create+terminate", create_abort), ("upload 1 KiB", small)]


def protocol(name: str, url: str, key: str) -> Protocol:
    return {"partway": Partway, "tus": Tus}[name](url, key)


def describe(exc: BaseException) -> str:
    if isinstance(exc, HttpError):
        return f"HTTP {exc.status}"
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return "deadline passed"
    return type(exc).__name__


# role: uploads


async def one_upload(
    proto: Protocol, plan: dict[str, Any], source: memoryview, deadline: float, ramp: float
) -> dict[str, Any]:
    await asyncio.sleep(plan["delay"] * ramp)
    body = source[plan["offset"] : plan["offset"] + plan["size"]]
    note = Progress()
    record: dict[str, Any] = {"i": plan["i"], "size": plan["size"], "rate": plan["rate"]}
    record["start"] = time.time()
    conn: Conn | None = None

    async def run() -> str:
        nonlocal conn
        conn = await Conn.open(proto.url, SNDBUF)
        return await proto.upload(conn, f"u{plan['i']}.bin", body, Pacer(plan["rate"]), note)

    try:
        record["id"] = await asyncio.wait_for(run(), deadline)
        record["ok"] = True
    except Exception as exc:
        record["ok"] = False
        record["error"] = f"{note.stage}: {describe(exc)}"
        record["detail"] = str(exc)[:300]
    finally:
        if conn is not None:
            conn.close()
    record["end"] = time.time()
    record["sent"] = note.sent
    record["marks"] = note.marks
    return record


class LoopLag:
    """How late this process's event loop wakes a 50 ms sleeper: when the client is starved of
    CPU, its pacing and its latency figures are off, and this says so."""

    def __init__(self) -> None:
        self.lags: list[float] = []
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            began = loop.time()
            await asyncio.sleep(0.05)
            self.lags.append(loop.time() - began - 0.05)

    def stop(self) -> dict[str, float]:
        self._task.cancel()
        lags = sorted(self.lags) or [0.0]
        return {"p99": lags[min(len(lags) - 1, int(len(lags) * 0.99))], "max": lags[-1]}


async def run_uploads(args: argparse.Namespace) -> dict[str, Any]:
    with open(args.plan) as f:
        plans: list[dict[str, Any]] = json.load(f)
    mine = plans[args.worker :: args.workers]
    fd = os.open(args.source, os.O_RDONLY)
    source = memoryview(mmap.mmap(fd, 0, prot=mmap.PROT_READ))
    proto = protocol(args.protocol, args.url, args.key)
    lag = LoopLag()
    records = await asyncio.gather(
        *(one_upload(proto, p, source, args.deadline, args.ramp) for p in mine)
    )
    # The whole process, start-up included: it starts as the load does.
    return {"uploads": records, "client_cpu": cpu_seconds(), "loop_lag": lag.stop()}


# role: aux (idle connections and the latency probe)


class Idle:
    """The idle keep-alive connections: each sends one request, then waits for the server to
    close it (noted), reopening if asked."""

    def __init__(self, proto: Protocol, count: int, reopen: bool) -> None:
        self.proto, self.count, self.reopen = proto, count, reopen
        self.opened = 0
        self.open_failures: dict[str, int] = {}
        self.closed_by_server = 0
        self.lifetimes: list[float] = []
        self.reopened = 0
        self.open_now = 0
        self._opening = asyncio.Semaphore(64)  # connects in flight: the listen backlogs are small
        self._conns: list[Conn] = []
        self._tasks: list[asyncio.Task[None]] = []

    async def _open_one(self) -> Conn | None:
        method, path, headers = self.proto.idle_request()
        async with self._opening:
            try:
                conn = await asyncio.wait_for(Conn.open(self.proto.url), 30)
                (await asyncio.wait_for(conn.request(method, path, headers), 30)).expect(200, 204)
            except Exception as exc:
                kind = describe(exc)
                self.open_failures[kind] = self.open_failures.get(kind, 0) + 1
                return None
        self.opened += 1
        self.open_now += 1
        return conn

    async def _hold(self, conn: Conn | None) -> None:
        while conn is not None:
            self._conns.append(conn)
            with contextlib.suppress(ConnectionError):
                await conn.reader.read(1)  # b"" once the server closes it
            self.open_now -= 1
            self.closed_by_server += 1
            self.lifetimes.append(time.monotonic() - conn.opened)
            conn.close()
            if not self.reopen:
                return
            conn = await self._open_one()
            self.reopened += conn is not None

    async def start(self) -> None:
        conns = await asyncio.gather(*(self._open_one() for _ in range(self.count)))
        self._tasks = [asyncio.create_task(self._hold(c)) for c in conns if c is not None]

    def stop(self) -> dict[str, Any]:
        for task in self._tasks:
            task.cancel()
        for conn in self._conns:
            conn.close()
        lifetimes = sorted(self.lifetimes)
        return {
            "asked": self.count,
            "opened": self.opened,
            "open_failures": self.open_failures,
            "closed_by_server": self.closed_by_server,
            "median_lifetime": lifetimes[len(lifetimes) // 2] if lifetimes else None,
            "reopened": self.reopened,
            "open_at_end": self.open_now,
        }


class Probe:
    """API latency during the load: `rate` operations a second, open-loop (each starts on its
    schedule whatever the ones before are doing, on a pooled connection or a new one), cycling
    through the protocol's probe operations; every request's latency is recorded."""

    def __init__(self, proto: Protocol, rate: float, timeout: float) -> None:
        self.proto, self.rate, self.timeout = proto, rate, timeout
        self.samples: list[tuple[str, str, float, str]] = []  # op, request, seconds, outcome
        self.errors: dict[str, int] = {}
        self._pool: list[Conn] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def _conn(self) -> Conn:
        while self._pool:
            conn = self._pool.pop()
            if conn.usable and not conn.reader.at_eof():
                return conn
            conn.close()
        return await Conn.open(self.proto.url)

    async def _op(self, name: str, op: Any) -> None:
        conn: Conn | None = None

        async def timed(request: str, awaitable: Any) -> Any:
            began = time.perf_counter()
            try:
                result = await awaitable
            except BaseException as exc:  # a cancelled request (deadline, end) counts as well
                outcome = "cancelled" if isinstance(exc, asyncio.CancelledError) else describe(exc)
                self.samples.append((name, request, time.perf_counter() - began, outcome))
                raise
            outcome = "ok" if not isinstance(result, Reply) or result.status < 400 else "error"
            self.samples.append((name, request, time.perf_counter() - began, outcome))
            return result

        try:
            conn = await self._conn()
            await asyncio.wait_for(op(conn, timed), self.timeout)
        except Exception as exc:
            kind = f"{name}: {describe(exc)}"
            self.errors[kind] = self.errors.get(kind, 0) + 1
            if conn is not None:
                conn.close()
            return
        self._pool.append(conn)

    async def run(self, stopping: asyncio.Event) -> None:
        conn = await Conn.open(self.proto.url)
        target = await self.proto.probe_target(conn)
        self._pool.append(conn)
        ops = self.proto.probe_ops(target)
        loop = asyncio.get_running_loop()
        began = loop.time()
        for n in range(10**9):
            at = began + n / self.rate
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), max(0.0, at - loop.time()))
            if stopping.is_set():
                break
            name, op = ops[n % len(ops)]
            task = asyncio.create_task(self._op(name, op))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        # Requests still out count with the time they had waited so far.
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for conn in self._pool:
            conn.close()

    def result(self) -> dict[str, Any]:
        return {"samples": self.samples, "errors": self.errors}


def stdin_lines(loop: asyncio.AbstractEventLoop) -> asyncio.Queue[str]:
    lines: asyncio.Queue[str] = asyncio.Queue()

    def read() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(lines.put_nowait, line.strip())
        loop.call_soon_threadsafe(lines.put_nowait, "stop")

    threading.Thread(target=read, daemon=True).start()
    return lines


async def run_aux(args: argparse.Namespace) -> dict[str, Any]:
    proto = protocol(args.protocol, args.url, args.key)
    commands = stdin_lines(asyncio.get_running_loop())
    idle = Idle(proto, args.idle, args.reopen_idle)
    began = time.perf_counter()
    await idle.start()
    print(json.dumps({"ready": time.perf_counter() - began}), flush=True)
    while await commands.get() != "go":
        pass
    cpu0 = cpu_seconds()
    probe = Probe(proto, args.probe_rate, args.probe_timeout)
    lag = LoopLag()
    stopping = asyncio.Event()
    probing = asyncio.create_task(probe.run(stopping))
    while await commands.get() != "stop":
        pass
    stopping.set()
    await probing
    return {
        "idle": idle.stop(),
        "probe": probe.result(),
        "loop_lag": lag.stop(),
        "client_cpu": cpu_seconds() - cpu0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.slowclient")
    parser.add_argument("role", choices=["uploads", "aux"])
    parser.add_argument("--protocol", choices=["partway", "tus"], required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--key", default="")
    parser.add_argument("--plan", help="uploads: the JSON plan of every upload")
    parser.add_argument("--source", help="uploads: the file the bodies are cut from")
    parser.add_argument("--worker", type=int, default=0, help="uploads: this worker's number")
    parser.add_argument("--workers", type=int, default=1, help="uploads: how many share the plan")
    parser.add_argument("--deadline", type=float, default=180, help="seconds an upload may take")
    parser.add_argument("--ramp", type=float, default=2, help="seconds over which uploads start")
    parser.add_argument("--idle", type=int, default=0, help="aux: idle keep-alive connections")
    parser.add_argument("--reopen-idle", action="store_true")
    parser.add_argument("--probe-rate", type=float, default=5, help="aux: operations a second")
    parser.add_argument("--probe-timeout", type=float, default=30)
    parser.add_argument("--result", required=True, help="where to write the result (JSON)")
    args = parser.parse_args()
    raise_nofile()
    run = run_uploads if args.role == "uploads" else run_aux
    result = uvloop.run(run(args))
    # A file, not stdout: after uvloop.run, a write of more than a pipe's 64 KiB to stdout came
    # out cut short here, silently.
    partial = f"{args.result}.partial"
    with open(partial, "w") as f:
        json.dump(result, f)
    os.replace(partial, args.result)


if __name__ == "__main__":
    main()
