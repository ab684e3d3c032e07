"""Bodies for tests: a DirectBody over bytes (what the socket body is to the storage seam)."""

from __future__ import annotations

import asyncio
import os
import select
import threading

from partway.domain.ports import Steps, WaitWritable


class MemoryBody:
    """A DirectBody over bytes that arrive 100,000 at a time: its steps yield between arrivals,
    and `drive` resumes each step in a new worker thread. Fails after `fail_after` bytes."""

    ARRIVAL = 100_000

    def __init__(self, data: bytes, fail_after: int | None = None) -> None:
        self.length = len(data)
        self._data = data
        self._at = 0
        self._fail_after = fail_after
        self.threads: set[str] = set()
        self.closed = False

    def read_into(self, view: memoryview) -> Steps:
        got = 0
        while got < len(view):
            self.threads.add(threading.current_thread().name)
            count = min(self.ARRIVAL, len(view) - got)
            if self._fail_after is not None and self._at + count > self._fail_after:
                raise ConnectionResetError("the client went away")
            view[got : got + count] = self._data[self._at : self._at + count]
            self._at += count
            got += count
            yield None

    def read_chunks(self, count: int, into: list[bytes]) -> Steps:
        view = memoryview(bytearray(count))
        yield from self.read_into(view)
        into.append(bytes(view))

    def splice_into(
        self, fd: int, offset: int | None, count: int, stall: float | None = None
    ) -> Steps:
        view = memoryview(bytearray(count))
        yield from self.read_into(view)
        while view:
            try:
                written = os.write(fd, view) if offset is None else os.pwrite(fd, view, offset)
            except BlockingIOError:
                assert stall is not None, "a non-blocking stream without a stall deadline"
                yield WaitWritable(fd, stall)
                continue
            view = view[written:]
            offset = None if offset is None else offset + written

    async def drive(self, steps: Steps) -> None:
        try:
            while await asyncio.to_thread(_step, steps):
                pass
        finally:
            steps.close()
            self.closed = True


def _step(steps: Steps) -> bool:
    try:
        wait = next(steps)
    except StopIteration:
        return False
    if wait is not None:  # the stream is full: this thread may wait for it
        _, writable, _ = select.select([], [wait.fd], [], wait.stall)
        if not writable:
            steps.throw(TimeoutError(f"the stream took no bytes for {wait.stall:g} s"))
    return True
