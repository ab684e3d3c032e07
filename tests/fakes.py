"""The core's services on in-memory fakes: no server, no disk, no database."""

from __future__ import annotations

from partway.config import Settings
from partway.domain.policy import StorageCapabilities
from partway.domain.ports import Clock, Locks, Storage
from partway.domain.repositories import Repository
from partway.locks.memory import MemoryLocks
from partway.metadata.memory import MemoryRepository
from partway.metrics import Metrics
from partway.services import Services, assemble
from partway.storage.memory import IN_PLACE, MemoryStorage

SERVICE = "mem"


def fake_services(
    clock: Clock, capabilities: StorageCapabilities = IN_PLACE, **overrides: object
) -> Services:
    """Services over a memory store (declaring `capabilities`), repository and locks."""
    values: dict[str, object] = {"storage": {SERVICE: "memory"}, "default_service": SERVICE}
    values.update(overrides)
    settings = Settings(**values)  # type: ignore[arg-type]
    repo: Repository = MemoryRepository()
    storage: Storage = MemoryStorage(capabilities, clock)
    locks: Locks = MemoryLocks(timeout=settings.lock_timeout_seconds)
    return assemble(settings, repo, {SERVICE: storage}, locks, clock, Metrics())
