"""Reclaiming space: expired sessions, old tombstones, and bytes no session or file owns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from .events import EventSink, NoEvents, ReaperRan
from .ports import Clock, Storage, StoredObject
from .repositories import ReapRepository
from .uploads import Lifetimes, UploadService

BATCH = 200


@dataclass(frozen=True)
class ReapReport:
    expired: int = 0
    bytes_freed: int = 0
    purged_rows: int = 0
    orphans: int = 0
    suspects: int = 0


class Reaper:
    def __init__(
        self,
        uploads: UploadService,
        repo: ReapRepository,
        storages: Mapping[str, Storage],
        lifetimes: Lifetimes,
        clock: Clock,
        orphan_grace: timedelta,
        events: EventSink | None = None,
    ) -> None:
        self._events = events or NoEvents()
        self._uploads = uploads
        self._repo = repo
        self._storages = storages
        self._lifetimes = lifetimes
        self._clock = clock
        self._orphan_grace = orphan_grace
        # Unreferenced objects, and when this reaper first saw them so.
        self._suspects: dict[tuple[str, StoredObject], datetime] = {}

    async def run_once(self, sweep_orphans: bool = True) -> ReapReport:
        expired = freed = 0
        while True:
            batch = await self._repo.expired_sessions(self._clock(), BATCH)
            won = 0
            for session in batch:
                # Another process may claim the same session; only one wins the compare-and-set.
                if await self._uploads.expire(session):
                    won += 1
                    freed += session.uploaded_bytes()
            expired += won
            if len(batch) < BATCH or won == 0:
                break
        purged = await self._repo.purge_sessions(self._clock(), self._lifetimes.finished_retention)
        orphans = await self.sweep_orphans() if sweep_orphans else 0
        await self._events.publish(ReaperRan(expired, freed, orphans))
        return ReapReport(expired, freed, purged, orphans, len(self._suspects))

    async def sweep_orphans(self) -> int:
        """Delete objects no session or file references, once they have stayed so for the grace
        period: older than it by the store's clock, and first seen unreferenced that long ago by
        this reaper.

        The grace covers the moment between creating an object and inserting its session row.
        The store's timestamps alone are not enough: its clock is not ours, and some stores
        (moto, for one) report a fixed start time for multipart uploads.
        """
        now = self._clock()
        cutoff = now - self._orphan_grace
        removed = 0
        still: dict[tuple[str, StoredObject], datetime] = {}
        for service, storage in self._storages.items():
            stored = await storage.inventory()
            if not stored:
                continue
            referenced = await self._repo.referenced_keys()
            for obj in stored:
                if obj.key in referenced:
                    continue
                seen = self._suspects.get((service, obj), now)
                if seen <= cutoff and obj.modified <= cutoff:
                    await storage.discard(obj.key, obj.handle)
                    removed += 1
                else:
                    still[(service, obj)] = seen
        self._suspects = still
        return removed
