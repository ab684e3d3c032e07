"""Exclusion between requests of one session: flock on one host, advisory locks on PostgreSQL."""

from __future__ import annotations

from ..config import Settings
from ..domain.ports import Locks
from .files import FileLocks


def locks_for(settings: Settings) -> Locks:
    """Instances sharing a PostgreSQL database may run on several hosts: lock there."""
    url = settings.metadata_url()
    if url.startswith("postgresql"):
        from .postgres import PgLocks  # only servers on PostgreSQL load its driver

        return PgLocks(url, timeout=settings.lock_timeout_seconds)
    return FileLocks(settings.data_dir / "locks", timeout=settings.lock_timeout_seconds)


__all__ = ["FileLocks", "locks_for"]
