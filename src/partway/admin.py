"""The operator's commands on a server's database and stores: keys, quota, migrate, reap, CORS.

Each says on stderr which database it uses: a key created in the wrong one gets 401 from the
running server, and nothing else would tell why.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from .failures import EXIT_USAGE, CliError
from .metadata.accounts import KeyRecord

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from .config import Settings
    from .metadata.sql import SqlRepository
    from .services import ServerServices as Services

MIB = 1024 * 1024


def say(message: str) -> None:
    """Messages for the person go to stderr; stdout carries only results."""
    print(f"partway: {message}", file=sys.stderr, flush=True)


def check_data_dir(settings: Settings) -> None:
    """Fail with the directory's name, not a SQLAlchemy traceback, when it cannot be written."""
    directory = settings.data_dir
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / f".partway-write-check-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise CliError(
            f"data directory {directory} cannot be written ({exc.strerror or exc}): fix its "
            "permissions or choose another with --data-dir / PARTWAY_DATA_DIR"
        ) from exc


def database_exists(settings: Settings) -> bool:
    """Whether the server's database is already there: the SQLite file, or a PostgreSQL schema."""
    url = settings.metadata_url()
    if url.startswith("sqlite"):
        database = sa.engine.make_url(url).database
        return bool(database) and Path(str(database)).exists()
    from .metadata.engine import make_engine

    engine = make_engine(url)
    try:
        return sa.inspect(engine).has_table("api_keys")
    finally:
        engine.dispose()


def open_services(settings: Settings) -> tuple[Services, Engine]:
    from .app import build_services, open_metadata

    check_data_dir(settings)
    say(f"database {settings.masked()['database_url']}")
    engine = open_metadata(settings)
    return build_services(settings, engine), engine


def open_accounts(settings: Settings) -> tuple[SqlRepository, Engine]:
    """The key and quota tables alone: no storage backends are built for these commands."""
    from .app import open_metadata
    from .metadata.sql import SqlRepository

    check_data_dir(settings)
    say(f"database {settings.masked()['database_url']}")
    engine = open_metadata(settings)
    return SqlRepository(engine, durable=settings.fsync), engine


def cmd_keys_create(args: argparse.Namespace, settings: Settings) -> int:
    from .app import utc_now
    from .domain.keys import KeyService, hash_key

    if not args.init and not database_exists(settings):
        raise CliError(
            f"no partway database at {settings.masked()['database_url']}: point --data-dir or "
            "--database-url (or PARTWAY_DATA_DIR / PARTWAY_DATABASE_URL) at the server's, "
            "or pass --init to create a new one",
            EXIT_USAGE,
        )
    repo, engine = open_accounts(settings)
    try:
        key = asyncio.run(KeyService(repo, utc_now).create(args.app_id))
        key_id = asyncio.run(repo.key_id_for(hash_key(key)))
    finally:
        repo.close()
        engine.dispose()
    say(f"created key {key_id} for app {args.app_id} (shown once; stored hashed)")
    print(key)
    return 0


def cmd_keys_list(args: argparse.Namespace, settings: Settings) -> int:
    repo, engine = open_accounts(settings)
    try:
        keys = asyncio.run(repo.list_keys(args.app_id))
    finally:
        repo.close()
        engine.dispose()
    if args.json:
        print(json.dumps([_key_json(k) for k in keys]))
        return 0
    if not keys:
        say("no keys yet: create one with `partway keys create --app-id APP`")
    for k in keys:
        state = f"revoked {_when(k.revoked_at)}" if k.revoked_at else "active"
        print(f"{k.id}  app={k.app_id}  created {_when(k.created_at)}  {state}")
    return 0


def cmd_keys_revoke(args: argparse.Namespace, settings: Settings) -> int:
    repo, engine = open_accounts(settings)
    try:
        done = asyncio.run(repo.revoke_key(args.key_id, datetime.now(UTC)))
    finally:
        repo.close()
        engine.dispose()
    if not done:
        raise CliError(
            f"no active key {args.key_id} in this database: see `partway keys list`",
        )
    # Servers remember a key's app for up to domain.keys.KEY_CACHE_SECONDS.
    say(f"revoked {args.key_id}; running servers refuse it within 30 s")
    return 0


def _key_json(k: KeyRecord) -> dict[str, Any]:
    return {
        "id": k.id,
        "app_id": k.app_id,
        "created_at": k.created_at.isoformat(),
        "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None,
    }


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from .app import metadata_engine
    from .metadata import migrate

    check_data_dir(settings)
    say(f"database {settings.masked()['database_url']}")
    migrate.upgrade(metadata_engine(settings))
    say("metadata schema is up to date")
    return 0


def cmd_reap(args: argparse.Namespace, settings: Settings) -> int:
    from .domain.reaper import ReapReport

    services, engine = open_services(settings)

    async def once() -> ReapReport:
        try:
            return await services.reaper.run_once()
        finally:
            await services.close()

    report = asyncio.run(once())
    engine.dispose()
    print(
        f"expired {report.expired} session(s), freed {_size(report.bytes_freed)}, "
        f"purged {report.purged_rows} old row(s), removed {report.orphans} orphan object(s)"
    )
    if report.suspects:
        say(
            f"{report.suspects} unreferenced object(s) seen: a running server's reaper removes "
            f"them once they stay unreferenced for {settings.orphan_grace_seconds:.0f} s"
        )
    return 0


def cmd_quota(args: argparse.Namespace, settings: Settings) -> int:
    from .domain.admission import Admission
    from .domain.models import Tenant
    from .services import limits_of

    if args.action == "set":
        if args.bytes is None and not args.default:
            raise CliError("quota set needs --bytes N or --default", EXIT_USAGE)
        if args.bytes is not None and args.bytes < 0:
            raise CliError(f"--bytes {args.bytes} is negative: give 0 or more", EXIT_USAGE)
    repo, engine = open_accounts(settings)
    admission = Admission(repo, limits_of(settings))  # the one place quotas are decided
    tenant = Tenant(args.app_id, args.consumer_id)
    try:
        if args.action == "set":
            asyncio.run(admission.set_quota(tenant, None if args.default else args.bytes))
            say(f"quota of {args.app_id}/{args.consumer_id} set")
        quota, used = asyncio.run(admission.standing(tenant))
    finally:
        repo.close()
        engine.dispose()
    limit = "unlimited" if quota is None else _size(quota)
    print(f"{args.app_id}/{args.consumer_id}: quota {limit}, used {_size(used)}")
    return 0


def _size(count: int) -> str:
    """Bytes, and MiB when that reads better: one unit family (binary) everywhere."""
    return f"{count} bytes" if count < MIB else f"{count} bytes ({count / MIB:.1f} MiB)"


def cmd_storage_cors(args: argparse.Namespace, settings: Settings) -> int:
    """The CORS rule browsers need to PUT direct parts into a service's store (storage/cors.py)."""
    from .storage.cors import allow_direct_puts

    service = args.service or settings.default_service
    urls = settings.storage_urls()
    if service not in urls:
        raise CliError(f"no service {service!r}: the configured ones are {', '.join(sorted(urls))}")
    done = asyncio.run(allow_direct_puts(urls[service], args.origin, os.environ))
    origins = ", ".join(args.origin)
    say(f"{done.where}: PUT from {origins} allowed, ETag exposed ({done.rules} rule(s) in all)")
    return 0
