"""Composition root: settings → metadata, storage, locks, domain services → HTTP routes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
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
from .domain.ports import Admission, Clock, Storage
from .domain.reaper import Reaper
from .domain.uploads import Lifetimes, UploadService
from .http import errors, files, folders, openapi, sessions
from .http.context import Services
from .locks import FileLocks
from .metadata import migrate
from .metadata.engine import make_engine
from .metadata.sql import SqlRepository
from .storage import storage_from_url

log = logging.getLogger("partway")

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
    admission = Admission(settings.default_quota_bytes, settings.max_open_sessions)
    uploads = UploadService(repo, storages, locks, policy, lifetimes, clock, admission)
    grace = timedelta(seconds=settings.orphan_grace_seconds)
    return Services(
        settings=settings,
        keys=KeyService(repo, clock),
        uploads=uploads,
        files=FileService(repo, uploads, clock),
        reaper=Reaper(uploads, repo, storages, lifetimes, clock, grace),
        repo=repo,
    )


async def reap_forever(services: Services) -> None:
    """The in-server reaper; several servers may run it on one store (claims are atomic)."""
    interval = services.settings.reap_interval_seconds
    while True:
        try:
            report = await services.reaper.run_once()
            if report.expired or report.orphans:
                log.info("reaper: %s", report)
        except Exception:
            log.exception("reaper run failed; trying again in %.0fs", interval)
        await asyncio.sleep(interval)


def create_app(settings: Settings, clock: Clock = utc_now) -> Starlette:
    engine = open_metadata(settings)
    services = build_services(settings, engine, clock)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        loop.set_default_executor(ThreadPoolExecutor(WORKER_THREADS, "partway-io"))
        # Bytes orphaned by a crash are swept at start (past the grace period) and then by the
        # reaper's periodic runs.
        reaper = asyncio.create_task(reap_forever(services))
        yield
        reaper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reaper
        engine.dispose()

    app = Starlette(
        routes=sessions.routes + files.routes + folders.routes + openapi.routes,
        exception_handlers={
            DomainError: errors.domain_error,
            HTTPException: errors.http_error,
            Exception: errors.unexpected_error,
        },
        lifespan=lifespan,
    )
    app.state.services = services
    return app
