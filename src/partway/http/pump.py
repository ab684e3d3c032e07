"""Request bodies moved by a few threads and woken by readiness: waiting costs no thread.

A body read straight from its connection is moved by a generator of steps (`Steps`): it makes
the blocking calls that move bytes which are already there and yields when its socket would
block. One reactor thread waits on the sockets of every yielded body at once (epoll, one-shot)
and enforces each body's deadlines; when a socket turns readable its body goes to one of a fixed
number of worker threads, which run it on to its next yield. Steps that write into a socket of
their own (a part spliced into an object store) yield that socket when it is full, and wait for it
to turn writable the same way. A slow or silent client, or a slow store, therefore costs a
descriptor, never a thread, and the threads only ever move bytes that have arrived: no
client can fill the pool by sending nothing, and K silent bodies all time out on their own
deadlines, not in waves.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import queue
import select
import struct
import termios
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from starlette.requests import ClientDisconnect

from ..config import Settings
from ..domain.errors import BodyTimedOut
from ..domain.ports import Steps, WaitWritable
from ..fair_share import stepped_aside

log = logging.getLogger("partway.http")

# How often the reactor looks at the deadlines of waiting bodies (their precision).
SCAN_SECONDS = 0.25
# A waiting body's socket reports readable only once this many bytes (or the rest of the body)
# have arrived (SO_RCVLOWAT): a client pacing 16 KiB writes wakes a thread once per 128 KiB,
# not per write. Bytes below the mark still count for the deadlines (FIONREAD at each scan).
LOW_WATER = 128 * 1024
# The worker threads' nice value (Linux schedules threads on their own). Under 1,000 slow
# uploads another tenant's API p99 was 78/98/92 ms at 15 against 104/121/140 ms at 5 (pairs of
# interleaved rounds, same MB/s); 19 was no better and had worse peaks (bench/slow.py).
WORKER_NICE = 15
_WAKE_FOR = select.EPOLLIN | select.EPOLLRDHUP | select.EPOLLONESHOT
_WAKE_WRITABLE = select.EPOLLOUT | select.EPOLLONESHOT


class BodyTimeout(BodyTimedOut):
    """A body was cut: silent for the idle timeout, or slower than the minimum rate."""


@dataclass(frozen=True)
class Pace:
    """The deadlines of a body: at most `idle_timeout` seconds without a byte, and at least
    `min_rate` bytes a second over each window of `window` seconds (0: no rate floor).

    A trickle of one byte a second never trips an idle timeout that restarts on every byte; the
    rate floor is what ends it. The defaults leave a 1 Mbit/s client (~125 kB/s) a margin of
    over 100x."""

    idle_timeout: float = 60.0
    min_rate: float = 1024.0
    window: float = 30.0


def pace_for(settings: Settings) -> Pace:
    return Pace(
        settings.body_timeout_seconds, settings.body_min_rate, settings.body_rate_window_seconds
    )


@dataclass
class Progress:
    """Where one body stands against its Pace; fed with its byte count, asked for a verdict."""

    pace: Pace
    last_byte_at: float = field(default_factory=time.monotonic)
    window_start: float = 0.0
    window_bytes: int = 0
    seen: int = 0

    def __post_init__(self) -> None:
        self.window_start = self.last_byte_at

    def check(self, now: float, total: int) -> BodyTimeout | None:
        """Take in the body's byte count `total` at `now`; the cut it has earned, if any."""
        if total > self.seen:
            self.seen = total
            self.last_byte_at = now
        return self._verdict(now)

    def restart(self, now: float, total: int) -> None:
        """The body was held up by where it goes, not by its client, until `now`: the client's
        clocks start again from here."""
        self.seen = max(self.seen, total)
        self.last_byte_at = self.window_start = now
        self.window_bytes = self.seen

    def next_check(self, now: float) -> float:
        """Seconds from `now` until a verdict could change without a new byte."""
        due = self.last_byte_at + self.pace.idle_timeout
        if self.pace.min_rate:
            due = min(due, self.window_start + self.pace.window)
        return max(due - now, 0.01)

    def _verdict(self, now: float) -> BodyTimeout | None:
        pace = self.pace
        if now - self.last_byte_at >= pace.idle_timeout:
            return BodyTimeout("idle", f"no body bytes for {pace.idle_timeout:g} s")
        elapsed = now - self.window_start
        if pace.min_rate and elapsed >= pace.window:
            rate = (self.seen - self.window_bytes) / elapsed
            if rate < pace.min_rate:
                return BodyTimeout(
                    "slow",
                    f"the body arrived at {rate:.0f} bytes/s over {elapsed:.0f} s, "
                    f"below the minimum of {pace.min_rate:g} bytes/s",
                )
            self.window_start, self.window_bytes = now, self.seen
        return None


@dataclass(eq=False)
class Job:
    """One body's steps, the socket they wait on, and the future its owner awaits."""

    fd: int
    steps: Steps
    progress: Progress
    moved: Callable[[], int]  # bytes this body has taken from the socket so far
    low_water: Callable[[int], None]  # sets the socket's low-water mark for its next wait
    loop: asyncio.AbstractEventLoop
    done: asyncio.Future[None]
    abandoned: threading.Event
    registered: set[int] = field(default_factory=set)  # descriptors in the epoll set for it
    wait: WaitWritable | None = None  # what it last yielded: None waits for its own socket
    waited_since: float = 0.0  # when it began to wait for `wait`
    parked_on: int = -1  # the descriptor it is parked on

    def cut(self, now: float) -> BaseException | None:
        """The end this parked body has earned at `now`, if any."""
        if self.abandoned.is_set():
            return ClientDisconnect()
        if self.wait is None:
            return self.progress.check(now, self.moved())
        if now - self.waited_since >= self.wait.stall:
            return TimeoutError(f"the destination took no bytes for {self.wait.stall:g} s")
        return None


class PumpStats:
    """What the metrics read; changed under the pump's lock only."""

    def __init__(self) -> None:
        self.waiting = 0  # bodies parked until their socket has bytes (or their store room)
        self.moving = 0  # bodies a worker thread is moving right now


class BodyPump:
    """The reactor and the worker threads; `start` once, `stop` at shutdown."""

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self.stats = PumpStats()
        self._epoll = select.epoll()
        self._wake = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._epoll.register(self._wake, select.EPOLLIN)
        self._ready: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._waiting: dict[int, Job] = {}
        self._lock = threading.Lock()
        self._stopping = False
        self._started = False
        self._workers: list[threading.Thread] = []

    def start(self) -> None:
        if self._started:
            return
        self._started = True
        reactor = threading.Thread(target=self._react, name="partway-body-reactor", daemon=True)
        self._workers = [reactor] + [
            threading.Thread(target=self._work, name=f"partway-body-{n}", daemon=True)
            for n in range(self.threads)
        ]
        for thread in self._workers:
            thread.start()

    def stop(self) -> None:
        if not self._started or self._stopping:
            return
        self._stopping = True
        os.eventfd_write(self._wake, 1)
        for _ in range(self.threads):
            self._ready.put(None)
        for thread in self._workers:
            thread.join(timeout=5)
        with self._lock:
            left, self._waiting = list(self._waiting.values()), {}
        with contextlib.suppress(queue.Empty):
            while True:
                job = self._ready.get_nowait()
                if job is not None:
                    left.append(job)
        for job in left:
            job.steps.close()
            self._finish(job, ClientDisconnect())

    def submit(self, job: Job) -> None:
        """Run `job` from its first step (event-loop side)."""
        self._ready.put(job)

    @property
    def queued(self) -> int:
        """Bodies with bytes to move, waiting for a free worker thread."""
        return self._ready.qsize()

    # Worker threads
    def _work(self) -> None:
        # Under CPU saturation the event loop (API requests) comes first: moving body bytes a
        # little later costs an upload little, an API call held up costs its caller a lot.
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), WORKER_NICE)
        while (job := self._ready.get()) is not None:
            self._moving(1)
            try:
                self._step(job)
            finally:
                self._moving(-1)

    def _moving(self, delta: int) -> None:
        with self._lock:
            self.stats.moving += delta

    def _step(self, job: Job) -> None:
        try:
            if job.abandoned.is_set():
                job.steps.close()
                raise ClientDisconnect()
            if job.wait is not None:
                # Held up by its destination: its client could send no faster meanwhile.
                job.progress.restart(time.monotonic(), job.moved())
            job.wait = next(job.steps)
        except StopIteration:
            self._finish(job, None)
        except BaseException as exc:
            self._finish(job, exc)
        else:
            try:
                # Checked here too: a body that wakes often is seldom parked when the reactor
                # scans.
                job.waited_since = now = time.monotonic()
                cut: BaseException | None = None
                if job.wait is None:
                    cut = job.progress.check(now, job.moved())
                if cut is None:
                    self._park(job)
                    return
            except BaseException as exc:  # e.g. epoll_ctl or setsockopt failing
                cut = exc
            job.steps.close()
            self._finish(job, cut)

    def _park(self, job: Job) -> None:
        """Wait for the body's socket to turn readable, or the socket its steps write to
        writable (one-shot)."""
        if job.wait is None:
            job.low_water(LOW_WATER)
            fd, events = job.fd, _WAKE_FOR
        else:
            fd, events = job.wait.fd, _WAKE_WRITABLE
        with self._lock:
            # Armed first, listed second, both under the lock: if arming fails the job is not
            # left listed, and a wake-up that comes at once finds it (the reactor's _unpark
            # waits for the lock).
            if fd in job.registered:
                self._epoll.modify(fd, events)
            else:
                self._epoll.register(fd, events)
                job.registered.add(fd)
            job.parked_on = fd
            self._waiting[fd] = job
            self.stats.waiting += 1

    # The reactor thread
    def _react(self) -> None:
        next_scan = time.monotonic() + SCAN_SECONDS
        while not self._stopping:
            try:
                events = self._epoll.poll(SCAN_SECONDS)
            except InterruptedError:
                continue
            for fd, _ in events:
                if fd == self._wake:
                    continue
                job = self._unpark(fd)
                if job is not None:
                    self.submit(job)
            now = time.monotonic()
            if now >= next_scan:
                next_scan = now + SCAN_SECONDS
                try:
                    self._scan(now)
                except Exception:  # the reactor must outlive any one body
                    log.exception("body pump: a deadline scan failed")

    def _unpark(self, fd: int) -> Job | None:
        with self._lock:
            job = self._waiting.pop(fd, None)
            if job is not None:
                self.stats.waiting -= 1
            return job

    def _scan(self, now: float) -> None:
        """Cut the waiting bodies that are past a deadline or were abandoned."""
        with self._lock:
            waiting = list(self._waiting.values())
        for job in waiting:
            fd, cut = job.parked_on, job.cut(now)
            if cut is None or self._unpark(fd) is not job:
                continue  # on time, or a worker has it now
            if fd == job.fd and not job.abandoned.is_set() and _pending(job.fd):
                # Bytes below the low-water mark arrived: move them, then judge again.
                self.submit(job)
                continue
            job.steps.close()  # suspended at a yield: its cleanup runs here
            self._finish(job, cut)

    def _finish(self, job: Job, exc: BaseException | None) -> None:
        with self._lock:
            # The client's descriptor is a dup: closing it would not take it out of the set.
            for fd in job.registered:
                with contextlib.suppress(OSError):
                    self._epoll.unregister(fd)
            job.registered.clear()
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting
            job.loop.call_soon_threadsafe(_settle_future, job.done, exc)


def _pending(fd: int) -> int:
    """Bytes waiting in a socket's receive queue."""
    try:
        count: int = struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0]
    except OSError:
        return 0
    return count


def _settle_future(future: asyncio.Future[None], exc: BaseException | None) -> None:
    if future.done():
        return
    if exc is None:
        future.set_result(None)
    else:
        future.set_exception(exc)


async def paced(chunks: AsyncIterator[bytes], pace: Pace) -> AsyncIterator[bytes]:
    """`chunks` (an ASGI body: chunked, TLS, or the stock protocol's) under the same deadlines
    as a pumped body; raises BodyTimeout. The pending read outlives a check that finds the
    body on time, so no chunk is lost to a timer."""
    progress = Progress(pace)
    total = 0
    source = aiter(chunks)
    pending: asyncio.Future[bytes] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(source))
                await asyncio.sleep(0)  # a chunk already received is read in this pass
            now = time.monotonic()
            if pending.done():
                done = {pending}
            else:
                # Only a wait for bytes still to come frees the request's slot: giving it up
                # for a JSON body already here let a whole burst in at once.
                async with stepped_aside():
                    done, _ = await asyncio.wait({pending}, timeout=progress.next_check(now))
            if not done:
                cut = progress.check(time.monotonic(), total)
                if cut is not None:
                    raise cut
                continue
            read, pending, done = pending, None, set()
            # Asked, not raised here: a raise would put this frame in the exception's traceback,
            # which the read keeps, which this frame keeps: a cycle left to the collector.
            if isinstance(read.exception(), StopAsyncIteration):
                return
            chunk = read.result()
            total += len(chunk)
            cut = progress.check(time.monotonic(), total)
            if cut is not None:
                raise cut
            yield chunk
    finally:
        if pending is not None:
            pending.cancel()
