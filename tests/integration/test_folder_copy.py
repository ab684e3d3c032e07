"""Folder copy over each real backend (local disk + SQLite, S3 + PostgreSQL): the store's own
copy (reflink/copy_file_range, CopyObject), the hidden build published in one transaction, a
dead copy reclaimed by its stale heartbeat, and the quota counted throughout."""

from __future__ import annotations

from datetime import timedelta

import pytest

from partway.domain.copies import CopyRequest, PendingCopy
from partway.domain.errors import NameTaken, NotFound, QuotaExceeded
from partway.domain.files import Listing
from partway.domain.models import Entry, EntryKind, NewSession
from partway.services import ServerServices as Services

from ..backends import Backend
from .helpers import TENANT, Clock, body, make_services, read_all, run


@pytest.fixture
def services(backend: Backend, clock: Clock) -> Services:
    return make_services(backend, clock)


async def put(services: Services, name: str, parent: str, data: bytes) -> Entry:
    service = services.settings.default_service
    req = NewSession(name, parent, len(data))
    return await services.files.upload_small(TENANT, service, req, body(data), len(data), None)


async def names_in(services: Services, folder_id: str) -> dict[str, Entry]:
    page = await services.files.list_folder(TENANT, Listing(folder_id=folder_id, limit=200))
    return {e.name: e for e in page.items}


def test_copy_publishes_a_tree_with_its_own_bytes(services: Services) -> None:
    files, copies = services.files, services.catalog.copies

    async def scenario() -> None:
        top = await files.create_folder(TENANT, "top", "root", None, None)
        inner = await files.create_folder(TENANT, "inner", top.id, None, None)
        await put(services, "a", top.id, b"A" * 5000)
        await put(services, "b", inner.id, b"B" * 70)
        await put(services, "zero", inner.id, b"")
        used = await services.repo.usage(TENANT)

        made = await copies.copy(TENANT, CopyRequest(top.id, "root", "top2"))
        assert (made.name, made.parent_id, made.drive_id) == ("top2", "root", "default")
        level1 = await names_in(services, made.id)
        level2 = await names_in(services, level1["inner"].id)
        assert set(level1) == {"a", "inner"} and set(level2) == {"b", "zero"}
        assert await read_all(services, level1["a"]) == b"A" * 5000
        assert await read_all(services, level2["b"]) == b"B" * 70
        assert await read_all(services, level2["zero"]) == b""
        assert level1["a"].storage_key != (await names_in(services, top.id))["a"].storage_key
        assert await services.repo.usage(TENANT) == used + 5070
        with pytest.raises(NameTaken):
            await copies.copy(TENANT, CopyRequest(top.id, "root", "top2"))
        assert await services.repo.usage(TENANT) == used + 5070

    run(scenario(), services)


def test_a_dead_copy_is_reclaimed_by_its_stale_heartbeat(services: Services, clock: Clock) -> None:
    files, copies, repo = services.files, services.catalog.copies, services.repo

    async def scenario() -> None:
        src = await files.create_folder(TENANT, "src", "root", None, None)
        original = await put(services, "f", src.id, b"bytes")
        used = await repo.usage(TENANT)
        # What a copy had made when its process died: a record and hidden rows.
        pending = PendingCopy("cpy_" + "ab" * 12, TENANT, 5, clock())
        hidden_top = Entry(
            "fld_" + "cd" * 12, TENANT, pending.id, pending.id, "src", EntryKind.FOLDER,
            clock(), clock(),
        )  # fmt: skip
        hidden_file = Entry(
            "file_" + "ef" * 12, TENANT, pending.id, hidden_top.id, "f", EntryKind.FILE,
            clock(), clock(), size=5, service_id=original.service_id,
            storage_key="obj_" + "12" * 12,
        )  # fmt: skip
        await repo.begin_copy(pending, [hidden_top, hidden_file], None)  # type: ignore[attr-defined]
        assert await repo.usage(TENANT) == used + 5
        assert set(await names_in(services, "root")) == {"src"}
        with pytest.raises(NotFound):
            await files.get(TENANT, "fld_missing", EntryKind.FOLDER)
        assert await copies.reclaim_stale() == 0  # still beating, as far as anyone knows
        clock.now += timedelta(minutes=1)
        assert await copies.reclaim_stale() == 1
        assert await repo.usage(TENANT) == used
        assert await repo.get_entry(TENANT, hidden_file.id) is None
        assert await copies.reclaim_stale() == 0

    run(scenario(), services)


def test_the_quota_counts_the_whole_copy(backend: Backend, clock: Clock) -> None:
    services = make_services(backend, clock, default_quota_bytes=100)

    async def scenario() -> None:
        src = await services.files.create_folder(TENANT, "src", "root", None, None)
        await put(services, "sixty", src.id, b"6" * 60)
        with pytest.raises(QuotaExceeded):
            await services.catalog.copies.copy(TENANT, CopyRequest(src.id, "root", "again"))
        assert await services.repo.usage(TENANT) == 60
        assert set(await names_in(services, "root")) == {"src"}

    run(scenario(), services)
