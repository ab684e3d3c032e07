"""Reclaiming space: expired sessions, old tombstones, and bytes no session or file owns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from .ports import Clock, Events, NoEvents, Repository, Storage
from .uploads import Lifetimes, UploadService

BATCH = 200


@dataclass(frozen=True)
class ReapReport:
    expired: int = 0
    bytes_freed: int = 0
    purged_rows: int = 0
    orphans: int = 0


class Reaper:
    def __init__(
        self,
        uploads: UploadService,
        repo: Repository,
        storages: Mapping[str, Storage],
        lifetimes: Lifetimes,
        clock: Clock,
        orphan_grace: timedelta,
        events: Events | None = None,
    ) -> None:
        self._events = events or NoEvents()
        self._uploads = uploads
        self._repo = repo
        self._storages = storages
        self._lifetimes = lifetimes
        self._clock = clock
        self._orphan_grace = orphan_grace

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
        self._events.emit("reaper.run", expired=expired, bytes=freed, orphans=orphans)
        return ReapReport(expired, freed, purged, orphans)

    async def sweep_orphans(self) -> int:
        """Delete objects no session or file references, older than the grace period.

        The grace covers the moment between creating an object and inserting its session row.
        """
        cutoff = self._clock() - self._orphan_grace
        removed = 0
        for storage in self._storages.values():
            candidates = await storage.keys_modified_before(cutoff)
            if not candidates:
                continue
            referenced = await self._repo.referenced_keys()
            for key in candidates:
                if key not in referenced:
                    await storage.delete(key)
                    removed += 1
        return removed
