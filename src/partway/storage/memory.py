"""An in-memory store for tests: the Storage contract kept in bytearrays.

It declares what it is asked to (writes in place, or ranges on the grid only as S3) so the
domain can be tested against either kind of store without a server.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ..domain.errors import InvalidInput, NotFound
from ..domain.models import ByteRange, Placement, server_id
from ..domain.policy import StorageCapabilities
from ..domain.ports import Bytes, Clock, Inspect, Source, StoredObject, Written
from .streaming import write_through

IN_PLACE = StorageCapabilities(
    min_part_size=1, max_part_size=5 * 1024**3, max_parts=100_000, writes_in_place=True
)
READ_BLOCK = 64 * 1024


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class _Object:
    handle: str
    modified: datetime
    data: bytearray = field(default_factory=bytearray)
    complete: bool = False


class _Writer:
    """Buffers a range; `commit` lays it into the object (an uncommitted range leaves no trace)."""

    def __init__(self, target: _Object, start: int) -> None:
        self._target = target
        self._start = start
        self._held = bytearray()

    async def write(
        self, chunks: Sequence[Bytes], alongside: Callable[[], None] | None = None
    ) -> None:
        if alongside is not None:
            alongside()
        for chunk in chunks:
            self._held += chunk

    async def commit(self) -> str | None:
        end = self._start + len(self._held)
        data = self._target.data
        if len(data) < end:
            data.extend(bytes(end - len(data)))
        data[self._start : end] = self._held
        return f'"{len(self._held)}@{self._start}"'

    async def close(self) -> None:
        self._held = bytearray()


class MemoryStorage:
    def __init__(self, capabilities: StorageCapabilities = IN_PLACE, clock: Clock = _utc_now):
        self._caps = capabilities
        self._clock = clock
        self._objects: dict[str, _Object] = {}
        self._handles = itertools.count(1)

    @property
    def capabilities(self) -> StorageCapabilities:
        return self._caps

    async def begin(self, key: str) -> str:
        handle = "" if self._caps.writes_in_place else f"upload-{next(self._handles)}"
        self._objects[server_id(key, "storage key")] = _Object(handle, self._clock())
        return handle

    def _unfinished(self, at: Placement) -> _Object:
        found = self._objects.get(at.key)
        if found is None or found.complete or found.handle != at.handle:
            raise NotFound("the upload's storage object is gone (aborted?)")
        return found

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
        if not self._caps.writes_in_place and start % at.grid:
            raise InvalidInput(f"this store writes ranges only at multiples of {at.grid} bytes")
        target = self._unfinished(at)
        target.modified = self._clock()
        return await write_through(_Writer(target, start), source, limit, inspect, accept)

    async def complete(self, at: Placement, ranges: list[ByteRange], size: int) -> int | None:
        found = self._objects.get(at.key)
        if found is not None and found.complete and len(found.data) == size:
            return None  # an earlier finish completed it, then crashed
        target = self._unfinished(at)
        del target.data[size:]
        target.data.extend(bytes(size - len(target.data)))
        target.complete = True
        return None

    async def reopen(self, at: Placement, ranges: list[ByteRange]) -> tuple[str, list[ByteRange]]:
        target = self._objects[at.key]
        target.complete = False
        return target.handle, ranges

    async def read(self, key: str, start: int, end: int) -> AsyncIterator[bytes]:
        found = self._objects.get(key)
        if found is None or not found.complete:
            raise NotFound("no such file in the store")
        for offset in range(start, end, READ_BLOCK):
            yield bytes(found.data[offset : min(end, offset + READ_BLOCK)])

    async def discard(self, key: str, handle: str) -> None:
        self._objects.pop(key, None)

    async def delete(self, key: str) -> None:
        self._objects.pop(key, None)

    async def inventory(self) -> list[StoredObject]:
        return [
            StoredObject(key, o.modified, "" if o.complete else o.handle)
            for key, o in sorted(self._objects.items())
        ]

    async def ready(self) -> None:
        pass

    async def close(self) -> None:
        pass
