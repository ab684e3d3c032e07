"""A Storage that times every operation of another and counts its failures."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import contextmanager
from typing import TypeVar

from ..domain.copies import copy_object
from ..domain.models import ByteRange, Placement
from ..domain.policy import StorageCapabilities
from ..domain.ports import Inspect, Source, Storage, StoredObject, Written
from ..fair_share import stepped_aside
from ..metrics import Metrics

T = TypeVar("T")


class _Timer:
    def __init__(self, metrics: Metrics, backend: str, remote: bool) -> None:
        self._metrics = metrics
        self._backend = backend
        self._remote = remote

    @contextmanager
    def op(self, name: str):  # type: ignore[no-untyped-def]
        began = time.perf_counter()
        try:
            yield
        except Exception:
            self._metrics.storage_errors.labels(self._backend, name).inc()
            raise
        finally:
            self._metrics.storage_latency.labels(self._backend, name).observe(
                time.perf_counter() - began
            )

    async def run(self, name: str, work: Awaitable[T]) -> T:
        with self.op(name):
            if not self._remote:
                return await work
            # A remote store's call waits on the network: its request's slot is free meanwhile.
            async with stepped_aside():
                return await work


class InstrumentedStorage:
    def __init__(self, inner: Storage, metrics: Metrics, backend: str, remote: bool) -> None:
        self._inner = inner
        self._timer = _Timer(metrics, backend, remote)

    @property
    def capabilities(self) -> StorageCapabilities:
        return self._inner.capabilities

    async def begin(self, key: str) -> str:
        return await self._timer.run("begin", self._inner.begin(key))

    async def write_range(
        self,
        at: Placement,
        start: int,
        source: Source,
        length: int | None,
        limit: int,
        inspect: Inspect | None = None,
        accept: Callable[[int], None] | None = None,
    ) -> Written:
        # One timing from open to durable (a body's wait for its bytes included).
        written = self._inner.write_range(at, start, source, length, limit, inspect, accept)
        return await self._timer.run("write", written)

    async def complete(self, at: Placement, ranges: list[ByteRange], size: int) -> int | None:
        return await self._timer.run("complete", self._inner.complete(at, ranges, size))

    async def reopen(self, at: Placement, ranges: list[ByteRange]) -> tuple[str, list[ByteRange]]:
        return await self._timer.run("reopen", self._inner.reopen(at, ranges))

    async def read(self, key: str, start: int, end: int) -> AsyncIterator[bytes]:
        with self._timer.op("read"):
            async for block in self._inner.read(key, start, end):
                yield block

    async def copy_object(self, source_key: str, target_key: str, size: int) -> None:
        # The inner store's own copy, or the bytes streamed through when it has none.
        work = copy_object(self._inner, source_key, target_key, size)
        await self._timer.run("copy", work)

    async def discard(self, key: str, handle: str) -> None:
        await self._timer.run("discard", self._inner.discard(key, handle))

    async def delete(self, key: str) -> None:
        await self._timer.run("delete", self._inner.delete(key))

    async def inventory(self) -> list[StoredObject]:
        return await self._timer.run("list", self._inner.inventory())

    async def ready(self) -> None:
        await self._timer.run("ready", self._inner.ready())

    async def close(self) -> None:
        await self._inner.close()
