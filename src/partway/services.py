"""Composition root of the core: settings → metadata store, storages, locks, event sinks → the
domain services. The HTTP app (app.py) and the CLI build on it; nothing here knows HTTP."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta

from prometheus_client import Counter
from sqlalchemy.engine import Engine

from . import secret_key
from .config import Settings
from .domain.admission import Admission, Limits
from .domain.catalog import Catalog
from .domain.companion import CompanionUploads
from .domain.copies import FolderCopier
from .domain.direct_uploads import DirectUploads
from .domain.drives import DriveService
from .domain.events import EventSink
from .domain.files import FileService
from .domain.form_uploads import FormUploads
from .domain.keys import KeyService
from .domain.links import LinkService
from .domain.policy import PartPolicy
from .domain.ports import Clock, Locks, Storage, Tails
from .domain.reaper import Reaper
from .domain.repositories import Repository
from .domain.search import SearchService
from .domain.signed_parts import SignedParts
from .domain.signing import Signer
from .domain.uploads import Lifetimes, UploadService
from .events import Fanout, LogSink
from .locks import locks_for
from .metadata import migrate
from .metadata.engine import make_engine
from .metadata.sql import SqlRepository
from .metrics import Metrics
from .storage import direct_ranges, range_copies, storage_from_url, tail_store
from .storage.instrumented import InstrumentedStorage
from .storage.local import LocalStorage
from .storage.s3_parts import part_signers
from .threads import KDF
from .webhooks.hooks import HttpHooks


@dataclass(frozen=True)
class Services:
    settings: Settings
    keys: KeyService
    uploads: UploadService
    admission: Admission
    files: FileService
    reaper: Reaper
    repo: Repository
    metrics: Metrics
    locks: Locks

    async def close(self) -> None:
        """Release the connections of storages, locks and metadata."""
        for storage in self.uploads.storages().values():
            await storage.close()
        await self.locks.close()
        await self.uploads.hooks.aclose()
        self.repo.close()


@dataclass(frozen=True)
class ServerServices(Services):
    """The core's services plus the File Storage catalog (drives, shared links, search, signed
    URLs, folder copy), which needs the SQL metadata store."""

    catalog: Catalog


def utc_now() -> datetime:
    return datetime.now(UTC)


def metadata_engine(settings: Settings) -> Engine:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return make_engine(settings.metadata_url(), durable=settings.fsync)


def open_metadata(settings: Settings) -> Engine:
    engine = metadata_engine(settings)
    if migrate.pending(engine):
        if not settings.auto_migrate:
            raise SystemExit("the metadata database needs `partway migrate` first")
        migrate.upgrade(engine)
    return engine


def timed(storage: Storage, metrics: Metrics, service: str) -> InstrumentedStorage:
    return InstrumentedStorage(storage, metrics, service, not isinstance(storage, LocalStorage))


def build_services(settings: Settings, engine: Engine, clock: Clock = utc_now) -> ServerServices:
    """The server's services: SQL metadata, the configured storages (timed), real locks."""
    metrics = Metrics()
    storages: dict[str, Storage] = {
        service: timed(storage_from_url(url, fsync=settings.fsync), metrics, service)
        for service, url in settings.storage_urls().items()
    }
    repo = SqlRepository(engine, durable=settings.fsync)
    core = assemble(settings, repo, storages, locks_for(settings), clock, metrics)
    catalog = build_catalog(settings, repo, core, clock, Fanout(LogSink(), metrics))
    return ServerServices(**{f.name: getattr(core, f.name) for f in fields(core)}, catalog=catalog)


def build_catalog(
    settings: Settings, repo: SqlRepository, core: Services, clock: Clock, events: EventSink
) -> Catalog:
    """Drives, shared links, search, signed URLs and folder copy (issue #18)."""
    signer = Signer(secret_key.load_or_create(settings.data_dir))
    link_downloads = Counter(
        "partway_shared_link_downloads",
        "Downloads served through shared links",
        registry=core.metrics.registry,
    )
    tree = core.files.tree
    direct = {
        service: found
        for service, storage in core.uploads.storages().items()
        if (found := direct_ranges(storage)) is not None
    }
    direct_uploads = DirectUploads(
        core.uploads,
        direct,
        repo,
        repo,
        core.locks,
        clock,
        timedelta(seconds=settings.session_ttl_seconds),
        settings.direct_services,
        # Stores clients cannot reach (local disk): partway serves their part URLs itself.
        SignedParts(signer, clock),
        [service for service in core.uploads.storages() if service not in direct],
    )
    return Catalog(
        drives=DriveService(repo, clock),
        links=LinkService(repo, repo, signer, clock, KDF.run),
        search=SearchService(repo, repo, tree, clock),
        signer=signer,
        link_downloads=link_downloads,
        copies=FolderCopier(
            repo, repo, tree, core.uploads.storage, clock, settings.default_quota_bytes, events
        ),
        direct=direct_uploads,
        companion=CompanionUploads(core.uploads, direct_uploads, part_signers(core.uploads), repo),
        forms=FormUploads(core.uploads, signer, clock),
    )


def limits_of(settings: Settings) -> Limits:
    """The operator's limits, for admission."""
    return Limits(
        default_quota=settings.default_quota_bytes,
        max_open_sessions=settings.max_open_sessions,
        max_file_size=settings.max_file_size,
        max_small_upload=settings.max_small_upload,
    )


def assemble(
    settings: Settings,
    repo: Repository,
    storages: Mapping[str, Storage],
    locks: Locks,
    clock: Clock,
    metrics: Metrics,
    tails: Mapping[str, Tails] | None = None,
) -> Services:
    """The domain services over given ports (the server's, or the tests' in-memory fakes);
    the stores' own tails unless `tails` are given."""
    events = Fanout(LogSink(), metrics)
    policy = PartPolicy(
        default_part_size=settings.default_part_size,
        max_part_size=settings.max_part_size,
        max_parts=settings.max_parts,
    )
    lifetimes = Lifetimes(
        session_ttl=timedelta(seconds=settings.session_ttl_seconds),
        finished_retention=timedelta(seconds=settings.finished_retention_seconds),
    )
    admission = Admission(repo, limits_of(settings))
    hooks = HttpHooks(settings.hooks, settings.hook_concurrency) if settings.hooks else None
    if tails is None:
        tails = {name: t for name, s in storages.items() if (t := tail_store(s)) is not None}
    copies = {name: c for name, s in storages.items() if (c := range_copies(s)) is not None}
    uploads = UploadService(
        repo, storages, locks, policy, lifetimes, clock, admission, events, hooks, tails, copies
    )
    grace = timedelta(seconds=settings.orphan_grace_seconds)
    return Services(
        settings=settings,
        keys=KeyService(repo, clock),
        uploads=uploads,
        admission=admission,
        files=FileService(repo, uploads, clock, events),
        reaper=Reaper(uploads, repo, storages, lifetimes, clock, grace, events),
        repo=repo,
        metrics=metrics,
        locks=locks,
    )
