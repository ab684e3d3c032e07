"""A settable clock, a one-chunk body and service wiring for driving the domain directly."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Engine

from partway.config import Settings
from partway.domain.digests import Digest
from partway.domain.models import Entry, Tenant, UploadSession
from partway.domain.ports import Source
from partway.domain.rules import PartRule
from partway.domain.uploads import UploadService
from partway.services import ServerServices, Services, build_services, open_metadata

from ..backends import Backend

TENANT = Tenant("app", "consumer")
# Engines made by make_services, disposed after each test (conftest.py): a pooled connection
# left to the garbage collector is a ResourceWarning, and warnings are errors.
ENGINES: list[Engine] = []


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


async def body(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def upload_part(
    uploads: UploadService,
    tenant: Tenant,
    session_id: str,
    number: int,
    source: Source,
    length: int | None,
    digest: Digest | None,
) -> UploadSession:
    """An Apideck part: the range the part rule places at number × part_size."""
    rule = PartRule(number, uploads.policy)
    return await uploads.write_range(tenant, session_id, rule, source, length, digest)


def make_services(backend: Backend, clock: Clock, **overrides: object) -> ServerServices:
    """The app's real wiring (repository, storage, locks) on a backend, with a fake clock."""
    values: dict[str, object] = {"fsync": False}
    values.update(backend.settings_overrides())
    values.update(overrides)
    settings = Settings(**values)  # type: ignore[arg-type]
    engine = open_metadata(settings)
    ENGINES.append(engine)
    return build_services(settings, engine, clock)


async def read_all(services: Services, entry: Entry) -> bytes:
    storage = services.uploads.storage(entry.service_id or "")
    return b"".join([b async for b in storage.read(entry.storage_key or "", 0, entry.size or 0)])


def run(scenario: Coroutine[Any, Any, None], *services: Services) -> None:
    """Run a scenario, then close the services' connections on the same event loop."""

    async def whole() -> None:
        try:
            await scenario
        finally:
            for each in services:
                await each.close()

    asyncio.run(whole())
