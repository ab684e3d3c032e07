"""Every implementation of each port: storage (memory, local disk, S3, Azure), repository (memory,
SQLite, PostgreSQL), locks (memory, file, PostgreSQL). A contract test takes one fixture and so
runs once per implementation of that port."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from partway.domain.ports import Locks, Storage
from partway.domain.repositories import Repository
from partway.locks.files import FileLocks
from partway.locks.memory import MemoryLocks
from partway.metadata import migrate
from partway.metadata.engine import make_engine
from partway.metadata.memory import MemoryRepository
from partway.metadata.sql import SqlRepository
from partway.storage.local import LocalStorage
from partway.storage.memory import MemoryStorage

from ..backends import drop_database, new_azure_url, new_database, new_s3_url

LOCK_TIMEOUT = 0.3


def make_storage(kind: str, tmp_path: Path) -> Storage:
    """A store of this kind; tests close it on the loop that used it (its clients belong to
    that loop)."""
    if kind == "memory":
        return MemoryStorage()
    if kind == "local":
        return LocalStorage(tmp_path, fsync=True)
    if kind == "s3":
        from partway.storage.s3 import S3Location, S3Storage

        return S3Storage(S3Location.parse(new_s3_url()))
    from partway.storage.azure import AzureLocation, AzureStorage

    url, env = new_azure_url()
    return AzureStorage(AzureLocation.parse(url, env))


@pytest.fixture(params=["memory", "local", "s3", "azure"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    return make_storage(request.param, tmp_path)


@pytest.fixture(params=["s3", "azure"])
def direct_storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    """The stores that take ranges straight from clients (DirectRanges)."""
    return make_storage(request.param, tmp_path)


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def repo(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Repository]:
    if request.param == "memory":
        yield MemoryRepository()
        return
    url = f"sqlite:///{tmp_path / 'c.db'}" if request.param == "sqlite" else new_database()
    engine = make_engine(url, durable=False)
    migrate.upgrade(engine)
    sql = SqlRepository(engine, durable=False)
    yield sql
    sql.close()
    engine.dispose()
    if request.param == "postgresql":
        drop_database(url)


@pytest.fixture(params=["memory", "file", "postgresql"])
def locks_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Locks]]:
    """Makes lock clients that exclude each other (two processes' worth, or one)."""
    if request.param == "memory":
        shared = MemoryLocks(timeout=LOCK_TIMEOUT)

        def memory() -> Locks:
            return shared  # one process: one client

        yield memory
        return
    if request.param == "file":

        def files() -> Locks:
            return FileLocks(tmp_path / "locks", timeout=LOCK_TIMEOUT)

        yield files
        return
    from partway.locks.postgres import PgLocks

    url = new_database()

    def postgres() -> Locks:
        return PgLocks(url, timeout=LOCK_TIMEOUT, max_connections=8)

    yield postgres
    drop_database(url)
