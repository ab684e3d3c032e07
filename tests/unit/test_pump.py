"""The body pump on real sockets: waiting bodies hold no thread, deadlines cut each body on its
own time, and a cancelled owner stops its body's steps."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator

import pytest
from starlette.requests import ClientDisconnect

from partway.domain.ports import Steps, WaitWritable
from partway.http.pump import WORKER_NICE, BodyPump, BodyTimeout, Job, Pace, Progress, paced


class Reader:
    """Steps that read a socket to EOF or `want` bytes, counting; yield when it is empty."""

    def __init__(self, sock: socket.socket, want: int) -> None:
        sock.setblocking(False)
        self.sock = sock
        self.want = want
        self.moved = 0
        self.closed = False

    def steps(self) -> Steps:
        try:
            while self.moved < self.want:
                try:
                    data = os.read(self.sock.fileno(), 65536)
                except BlockingIOError:
                    yield None
                    continue
                if not data:
                    raise ClientDisconnect()
                self.moved += len(data)
                yield from self.deliver(data)
        finally:
            self.closed = True

    def deliver(self, data: bytes) -> Steps:
        """What becomes of the bytes read: here, nothing."""
        yield from ()


class Forwarder(Reader):
    """A Reader that sends what it reads into `out` (non-blocking), waiting for `out` to turn
    writable whenever it is full, as a part spliced into an object store does."""

    def __init__(self, sock: socket.socket, want: int, out: socket.socket, stall: float) -> None:
        super().__init__(sock, want)
        out.setblocking(False)
        self.out = out
        self.stall = stall

    def deliver(self, data: bytes) -> Steps:
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self.out.fileno(), view) :]
            except BlockingIOError:
                yield WaitWritable(self.out.fileno(), self.stall)


@pytest.fixture
def pump() -> Iterator[BodyPump]:
    pump = BodyPump(2)
    pump.start()
    yield pump
    pump.stop()


def submit(pump: BodyPump, reader: Reader, pace: Pace) -> asyncio.Future[None]:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    job = Job(
        reader.sock.fileno(),
        reader.steps(),
        Progress(pace),
        lambda: reader.moved,
        lambda most: None,
        loop,
        done,
        threading.Event(),
    )
    pump.submit(job)
    return done


def test_many_silent_bodies_time_out_together_on_two_threads(pump: BodyPump) -> None:
    pairs = [socket.socketpair() for _ in range(100)]

    async def scenario() -> list[float]:
        began = time.monotonic()
        futures = [submit(pump, Reader(a, 10), Pace(1.0, 0, 1)) for a, _ in pairs]
        await asyncio.sleep(0.3)
        assert pump.stats.waiting == 100  # parked, on two threads
        took = []
        for future in futures:
            with pytest.raises(BodyTimeout) as cut:
                await future
            assert cut.value.reason == "idle"
            took.append(time.monotonic() - began)
        return took

    took = asyncio.run(scenario())
    assert min(took) >= 1.0 and max(took) < 1.0 + 1.0, (min(took), max(took))
    assert pump.stats.waiting == 0
    for a, b in pairs:
        a.close()
        b.close()


def test_a_trickle_under_the_minimum_rate_is_cut_while_it_trickles(pump: BodyPump) -> None:
    a, b = socket.socketpair()
    stop = threading.Event()

    def feed() -> None:
        while not stop.wait(0.1):
            b.send(b"x" * 50)  # 500 bytes a second

    async def scenario() -> float:
        began = time.monotonic()
        future = submit(pump, Reader(a, 10**9), Pace(60, 1000, 1.0))
        with pytest.raises(BodyTimeout) as cut:
            await future
        assert cut.value.reason == "slow"
        return time.monotonic() - began

    feeder = threading.Thread(target=feed)
    feeder.start()
    try:
        assert asyncio.run(scenario()) < 2.0
    finally:
        stop.set()
        feeder.join()
        a.close()
        b.close()


def test_a_body_is_moved_to_its_end_and_a_cancelled_one_stops(pump: BodyPump) -> None:
    a, b = socket.socketpair()
    c, d = socket.socketpair()
    whole, stalled = Reader(a, 3_000_000), Reader(c, 10)

    async def scenario() -> None:
        future = submit(pump, whole, Pace())
        b.sendall(os.urandom(3_000_000))
        await future
        waiting = submit(pump, stalled, Pace())
        task = asyncio.ensure_future(asyncio.shield(waiting))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    assert whole.moved == 3_000_000 and whole.closed
    for s in (a, b, c, d):
        s.close()


def feed(sock: socket.socket, data: bytes) -> threading.Thread:
    """Sends `data` into `sock` from a thread of its own (it blocks while nobody reads)."""

    def send() -> None:
        with contextlib.suppress(OSError):
            sock.sendall(data)

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread


def full_store() -> tuple[socket.socket, socket.socket]:
    """A destination that fills after a few KiB unless its peer reads."""
    store, peer = socket.socketpair()
    store.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    return store, peer


def test_bodies_waiting_for_a_full_destination_hold_no_thread(pump: BodyPump) -> None:
    """Three bodies into destinations that read nothing, on two threads: a body that only
    needs its client still moves, and each stalled one is cut on its own deadline."""
    clients = [socket.socketpair() for _ in range(3)]
    stores = [full_store() for _ in range(3)]
    a, b = socket.socketpair()

    async def scenario() -> float:
        began = time.monotonic()
        for _, feeder in clients:
            feed(feeder, b"x" * 1_000_000)
        stalled = [
            submit(pump, Forwarder(c, 1_000_000, s, 1.0), Pace(60, 0, 1))
            for (c, _), (s, _) in zip(clients, stores, strict=True)
        ]
        await asyncio.sleep(0.3)
        assert pump.stats.waiting == 3 and pump.stats.moving == 0
        moving = Reader(a, 1_000_000)
        future = submit(pump, moving, Pace())
        feed(b, os.urandom(1_000_000))
        await asyncio.wait_for(future, 0.5)  # the two threads are free
        for waiting in stalled:
            with pytest.raises(TimeoutError):
                await waiting
        return time.monotonic() - began

    took = asyncio.run(scenario())
    assert 1.0 <= took < 2.0, took
    for pair in [*clients, *stores, (a, b)]:
        for end in pair:
            end.close()


def test_a_wait_for_the_destination_is_not_charged_to_the_client(pump: BodyPump) -> None:
    """The client's rate window starts again once the destination takes bytes: a client whose
    bytes sat unread while the store was full is not cut for a rate the store set."""
    client, feeder = socket.socketpair()
    store, drain = full_store()
    first, rest = b"x" * 300_000, b"y" * 200_000

    def store_then_client() -> None:
        time.sleep(1.5)  # three of the client's rate windows: 200 kB/s over them
        got = 0
        while got < len(first):
            got += len(drain.recv(1 << 20))
        time.sleep(0.1)
        feed(feeder, rest)  # in the window that started when the store took bytes again
        while got < len(first) + len(rest):
            got += len(drain.recv(1 << 20))

    async def scenario() -> None:
        feed(feeder, first)
        want = len(first) + len(rest)
        await submit(pump, Forwarder(client, want, store, 30), Pace(60, 500_000, 0.5))

    later = threading.Thread(target=store_then_client)
    later.start()
    asyncio.run(scenario())
    later.join()
    for end in (client, feeder, store, drain):
        end.close()


def test_an_asgi_body_under_the_same_deadlines() -> None:
    async def trickle() -> AsyncIterator[bytes]:
        while True:
            await asyncio.sleep(0.1)
            yield b"x" * 10

    async def silent() -> AsyncIterator[bytes]:
        yield b"x"
        await asyncio.sleep(60)

    async def drain(chunks: AsyncIterator[bytes], pace: Pace) -> str:
        with pytest.raises(BodyTimeout) as cut:
            async for _ in paced(chunks, pace):
                pass
        return cut.value.reason

    assert asyncio.run(drain(trickle(), Pace(60, 1000, 0.5))) == "slow"
    began = time.monotonic()
    assert asyncio.run(drain(silent(), Pace(0.5, 0, 1))) == "idle"
    assert time.monotonic() - began < 1.5


def _nice_of(thread: threading.Thread) -> int:
    assert thread.native_id is not None
    return os.getpriority(os.PRIO_PROCESS, thread.native_id)  # Linux: a thread id is a process


def test_the_workers_yield_the_cpu_to_the_event_loop() -> None:
    own = os.getpriority(os.PRIO_PROCESS, 0)
    before = set(threading.enumerate())
    pump = BodyPump(2)
    pump.start()
    try:
        started = [t for t in threading.enumerate() if t not in before]
        reactor = [t for t in started if t.name == "partway-body-reactor"]
        movers = [t for t in started if t not in reactor]
        assert len(reactor) == 1 and len(movers) == 2
        deadline = time.monotonic() + 2
        while any(_nice_of(t) != WORKER_NICE for t in movers) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert [_nice_of(t) for t in movers] == [WORKER_NICE] * 2
        assert own < WORKER_NICE  # the body movers lose the CPU to the API's threads
        assert _nice_of(reactor[0]) == own
    finally:
        pump.stop()
