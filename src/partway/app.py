"""Composition root: settings → metadata, storage, locks, domain services → HTTP routes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.exceptions import HTTPException

from .config import Settings
from .domain.errors import DomainError
from .domain.files import FileService
from .domain.keys import KeyService
from .domain.policy import PartPolicy
from .domain.ports import Clock, Storage
from .domain.uploads import Lifetimes, UploadService
from .http import errors, files, folders, sessions
from .http.context import Services
from .locks import FileLocks
from .metadata import migrate
from .metadata.engine import make_engine
from .metadata.sql import SqlRepository
from .storage import storage_from_url

# Parts in flight each keep a write and a hash busy in worker threads; the default pool is small.
WORKER_THREADS = 64


def utc_now() -> datetime:
    return datetime.now(UTC)


def open_metadata(settings: Settings) -> Engine:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.metadata_url())
    if migrate.pending(engine):
        if not settings.auto_migrate:
            raise SystemExit("the metadata database needs `partway migrate` first")
        migrate.upgrade(engine)
    return engine


def build_services(settings: Settings, engine: Engine, clock: Clock = utc_now) -> Services:
    repo = SqlRepository(engine)
    storages: dict[str, Storage] = {
        service: storage_from_url(url, fsync=settings.fsync)
        for service, url in settings.storage_urls().items()
    }
    policy = PartPolicy(
        default_part_size=settings.default_part_size,
        max_part_size=settings.max_part_size,
        max_parts=settings.max_parts,
        max_file_size=settings.max_file_size,
    )
    lifetimes = Lifetimes(
        session_ttl=timedelta(seconds=settings.session_ttl_seconds),
        finished_retention=timedelta(seconds=settings.finished_retention_seconds),
    )
    locks = FileLocks(settings.data_dir / "locks", timeout=settings.lock_timeout_seconds)
    uploads = UploadService(repo, storages, locks, policy, lifetimes, clock)
    return Services(
        settings=settings,
        keys=KeyService(repo, clock),
        uploads=uploads,
        files=FileService(repo, uploads, clock),
    )


def create_app(settings: Settings, clock: Clock = utc_now) -> Starlette:
    engine = open_metadata(settings)
    services = build_services(settings, engine, clock)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        loop.set_default_executor(ThreadPoolExecutor(WORKER_THREADS, "partway-io"))
        yield
        engine.dispose()

    app = Starlette(
        routes=sessions.routes + files.routes + folders.routes,
        exception_handlers={
            DomainError: errors.domain_error,
            HTTPException: errors.http_error,
            Exception: errors.unexpected_error,
        },
        lifespan=lifespan,
    )
    app.state.services = services
    return app
