"""Local-disk storage: one sparse file per upload, ranges written in place at their offsets.

Finish therefore moves no bytes: the session's object simply becomes the file's object.
"""

from __future__ import annotations

import contextlib
import mmap
import os
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from ..domain.errors import NotFound
from ..domain.models import SERVER_ID, ByteRange, Placement, server_id
from ..domain.policy import StorageCapabilities
from ..domain.ports import Bytes, DirectBody, Inspect, Source, Steps, StoredObject, Written
from ..os_errors import full_disk_as_domain
from ..threads import DISK
from .local_copy import clone_or_copy, copy_range
from .streaming import write_through

READ_BLOCK = 1024 * 1024
# A filled range is shown to its inspector (hashing) through mappings of this many bytes.
MAP_WINDOW = 8 * 1024 * 1024
# With fsync on, written bytes are handed to writeback in steps of this many.
FLUSH_STEP = 1024 * 1024
CAPABILITIES = StorageCapabilities(
    min_part_size=1, max_part_size=5 * 1024**3, max_parts=100_000, writes_in_place=True
)


def _create(path: Path) -> None:
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


class LocalWriter:
    def __init__(self, fd: int, offset: int, fsync: bool) -> None:
        self._fd = fd
        self._offset = offset
        self._fsync = fsync

    async def write(
        self, chunks: Sequence[Bytes], alongside: Callable[[], None] | None = None
    ) -> None:
        await DISK.run(self._append, chunks, alongside)

    def fill(self, body: DirectBody, inspect: Inspect | None) -> Steps:
        """Socket to file inside the kernel, then each window of stored bytes shown to `inspect`
        through a read-only mapping of the file's pages: the bytes are copied once, into the page
        cache, where reading into a buffer and writing it out copies them twice. The mapping is
        safe from SIGBUS because nothing truncates a file while a part holds its session lock."""
        remaining = body.length
        try:
            while remaining:
                count = min(remaining, MAP_WINDOW)
                yield from self._splice(body, self._offset, count)
                if inspect is not None:
                    self._show(inspect, self._offset, count)
                self._offset += count
                remaining -= count
        except OSError as exc:
            raise full_disk_as_domain(exc, "writing a part") from exc

    def _splice(self, body: DirectBody, offset: int, count: int) -> Steps:
        if not self._fsync:
            yield from body.splice_into(self._fd, offset, count)
            return
        # Each MiB goes to writeback as soon as it lands (POSIX_FADV_DONTNEED starts it, as
        # PostgreSQL does where there is no sync_file_range), so the part's fdatasync finds
        # little left to write: measured, P=1 with fsync 729 -> 927 MB/s, P=4 1060 -> 1248.
        for start in range(offset, offset + count, FLUSH_STEP):
            step = min(FLUSH_STEP, offset + count - start)
            yield from body.splice_into(self._fd, start, step)
            os.posix_fadvise(self._fd, start, step, os.POSIX_FADV_DONTNEED)

    def _show(self, inspect: Inspect, offset: int, count: int) -> None:
        start = offset - offset % mmap.ALLOCATIONGRANULARITY
        size = offset + count - start
        # Faulted in on read, not MAP_POPULATE'd: a read fault maps the cached pages 64 KiB at a
        # time (fault-around) where populating walks them one by one (follow_page_pte in the
        # server's profile). Mapping 8 MiB just written and taking its CRC32C cost 0.05-0.06 CPU
        # s per GiB beyond the writes, 0.08-0.10 populated (bench/map_hash.py, three runs).
        with (
            mmap.mmap(self._fd, size, mmap.MAP_SHARED, mmap.PROT_READ, offset=start) as pages,
            memoryview(pages)[offset - start :] as window,
        ):
            inspect(window)

    def _append(self, chunks: Sequence[Bytes], alongside: Callable[[], None] | None = None) -> None:
        """`alongside` first, then one vectored write of the batch at the writer's position; a
        short write continues where it stopped. Writes come one at a time (callers await each)."""
        if alongside is not None:
            alongside()
        offset = self._offset
        self._offset += sum(len(c) for c in chunks)
        views = [memoryview(c) for c in chunks]
        try:
            while views:
                written = os.pwritev(self._fd, views, offset)
                offset += written
                while views and written >= len(views[0]):
                    written -= len(views[0])
                    views.pop(0)
                if views and written:
                    views[0] = views[0][written:]
        except OSError as exc:
            raise full_disk_as_domain(exc, "writing a part") from exc

    async def commit(self) -> str | None:
        if self._fsync:
            try:
                await DISK.run(os.fdatasync, self._fd)
            except OSError as exc:
                raise full_disk_as_domain(exc, "flushing a part") from exc
        return None

    async def close(self) -> None:
        os.close(self._fd)


class LocalStorage:
    def __init__(self, root: Path, *, fsync: bool = True) -> None:
        self._dir = root / "objects"
        self._dir.mkdir(parents=True, exist_ok=True)
        self._fsync = fsync

    @property
    def capabilities(self) -> StorageCapabilities:
        return CAPABILITIES

    def _path(self, key: str) -> Path:
        return self._dir / server_id(key, "storage key")

    async def begin(self, key: str) -> str:
        try:
            await DISK.run(_create, self._path(key))
        except OSError as exc:
            raise full_disk_as_domain(exc, "creating an upload") from exc
        return ""

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
        try:
            # No O_CREAT: a write racing an abort must not resurrect the deleted object.
            fd = os.open(self._path(at.key), os.O_RDWR)  # readable: hashing maps what was written
        except FileNotFoundError:
            raise NotFound("the upload's storage object is gone (aborted?)") from None
        writer = LocalWriter(fd, start, self._fsync)
        # A direct body is spliced socket -> file (the fill); chunks go through pwritev.
        return await write_through(writer, source, limit, inspect, accept, writer.fill)

    async def complete(self, at: Placement, ranges: list[ByteRange], size: int) -> int | None:
        await DISK.run(self._truncate_and_sync, self._path(at.key), size)
        return None

    async def reopen(self, at: Placement, ranges: list[ByteRange]) -> tuple[str, list[ByteRange]]:
        # The ranges never left their places in the file; it simply takes writes again.
        return "", ranges

    def _truncate_and_sync(self, path: Path, size: int) -> None:
        # A replaced, shorter last part can leave stale bytes past the end; cut them off.
        fd = os.open(path, os.O_WRONLY)
        try:
            if os.fstat(fd).st_size != size:
                os.ftruncate(fd, size)
            if self._fsync:
                os.fsync(fd)
        except OSError as exc:
            raise full_disk_as_domain(exc, "completing an upload") from exc
        finally:
            os.close(fd)

    async def read(self, key: str, start: int, end: int) -> AsyncIterator[bytes]:
        fd = os.open(self._path(key), os.O_RDONLY)
        try:
            offset = start
            while offset < end:
                want = min(READ_BLOCK, end - offset)
                block = await DISK.run(os.pread, fd, want, offset)
                if not block:
                    # A sparse hole past EOF (never written): zeros, as a disk would read.
                    block = bytes(want)
                offset += len(block)
                yield block
        finally:
            os.close(fd)

    async def copy_object(self, source_key: str, target_key: str, size: int) -> None:
        """A new completed object holding a copy of another (folder copy): a reflink or an
        in-kernel copy, see local_copy.py."""
        await DISK.run(self._copy, self._path(source_key), self._path(target_key), size)

    def _copy(self, source: Path, target: Path, size: int) -> None:
        try:
            src = os.open(source, os.O_RDONLY)
        except FileNotFoundError:
            raise NotFound("a file being copied was deleted meanwhile") from None
        try:
            dst = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                clone_or_copy(src, dst, size)
                if self._fsync:
                    os.fsync(dst)
            finally:
                os.close(dst)
        except OSError as exc:
            raise full_disk_as_domain(exc, "copying a file") from exc
        finally:
            os.close(src)

    async def copy_range(
        self, at: Placement, start: int, source_key: str, first: int, size: int
    ) -> Written:
        """RangeCopies (tus concatenation): bytes of a completed object into an unfinished one
        at any offset, by the kernel (local_copy.copy_range); none pass through partway."""
        await DISK.run(
            self._copy_range, self._path(source_key), self._path(at.key), first, start, size
        )
        return Written(size, None)

    def _copy_range(self, source: Path, target: Path, first: int, start: int, size: int) -> None:
        try:
            src = os.open(source, os.O_RDONLY)
        except FileNotFoundError:
            raise NotFound("a piece being joined was deleted meanwhile") from None
        try:
            # No O_CREAT: a copy racing an abort must not resurrect the deleted object.
            dst = os.open(target, os.O_WRONLY)
            try:
                copy_range(src, dst, first, start, size)
                if self._fsync:
                    os.fdatasync(dst)
            finally:
                os.close(dst)
        except FileNotFoundError:
            raise NotFound("the upload's storage object is gone (aborted?)") from None
        except OSError as exc:
            raise full_disk_as_domain(exc, "joining a piece") from exc
        finally:
            os.close(src)

    async def discard(self, key: str, handle: str) -> None:
        await self.delete(key)

    async def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._path(key))

    async def ready(self) -> None:
        if not os.access(self._dir, os.W_OK | os.X_OK):
            raise OSError(f"storage directory {self._dir} is not writable")

    async def inventory(self) -> list[StoredObject]:
        def scan() -> list[StoredObject]:
            found = []
            for entry in os.scandir(self._dir):
                with contextlib.suppress(FileNotFoundError):
                    if SERVER_ID.match(entry.name):
                        modified = datetime.fromtimestamp(entry.stat().st_mtime, UTC)
                        found.append(StoredObject(entry.name, modified))
            return sorted(found, key=lambda o: o.key)

        return await DISK.run(scan)

    async def close(self) -> None:
        pass
