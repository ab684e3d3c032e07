"""A Storage that times every operation of another and counts its failures."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import contextmanager
from typing import TypeVar

from ..domain.copies import copy_object
from ..domain.models import Part
from ..domain.policy import StorageCapabilities
from ..domain.ports import (
    Bytes,
    DirectBody,
    Fill,
    Inspect,
    RangeWriter,
    Steps,
    Storage,
    StoredObject,
)
from ..metrics import Metrics

T = TypeVar("T")


class _Timer:
    def __init__(self, metrics: Metrics, backend: str) -> None:
        self._metrics = metrics
        self._backend = backend

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
            return await work


class InstrumentedWriter:
    def __init__(self, inner: RangeWriter, timer: _Timer) -> None:
        self._inner = inner
        self._timer = timer

    async def write(
        self, chunks: Sequence[Bytes], alongside: Callable[[], None] | None = None
    ) -> None:
        await self._timer.run("write", self._inner.write(chunks, alongside))

    def filler(self) -> Fill | None:
        inner = self._inner.filler()
        if inner is None:
            return None

        def fill(body: DirectBody, inspect: Inspect | None) -> Steps:
            with self._timer.op("write"):
                yield from inner(body, inspect)

        return fill

    async def commit(self) -> str | None:
        return await self._timer.run("commit", self._inner.commit())

    async def close(self) -> None:
        await self._inner.close()


class InstrumentedStorage:
    def __init__(self, inner: Storage, metrics: Metrics, backend: str) -> None:
        self._inner = inner
        self._timer = _Timer(metrics, backend)

    @property
    def capabilities(self) -> StorageCapabilities:
        return self._inner.capabilities

    async def begin(self, key: str) -> str:
        return await self._timer.run("begin", self._inner.begin(key))

    async def open_range(
        self, key: str, handle: str, number: int, offset: int, length: int | None
    ) -> RangeWriter:
        inner = await self._timer.run(
            "open_range", self._inner.open_range(key, handle, number, offset, length)
        )
        return InstrumentedWriter(inner, self._timer)

    async def complete(self, key: str, handle: str, parts: list[Part], size: int) -> None:
        await self._timer.run("complete", self._inner.complete(key, handle, parts, size))

    async def reopen(self, key: str, parts: list[Part]) -> tuple[str, list[Part]]:
        return await self._timer.run("reopen", self._inner.reopen(key, parts))

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
