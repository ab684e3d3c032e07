"""Blocking hooks and the catalog's durable events on the in-memory fakes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from partway.domain.errors import InvalidInput
from partway.domain.hooks import (
    AccessAsk,
    CreateAsk,
    CreateChanges,
    FinishAsk,
    HookRefused,
    HookRefusedState,
)
from partway.domain.models import EntryKind, EntryPatch, NewSession, SessionState, Tenant
from partway.domain.rules import PartRule
from partway.services import Services

from ..fakes import SERVICE, fake_services

TENANT = Tenant("app", "consumer")


class ScriptedHooks:
    """Answers as the test says, and remembers what it was asked."""

    def __init__(self) -> None:
        self.changes = CreateChanges()
        self.refuse_finish = False
        self.refuse_access = False
        self.asked: list[object] = []

    async def pre_create(self, ask: CreateAsk) -> CreateChanges:
        self.asked.append(ask)
        if ask.name.endswith(".exe"):
            raise HookRefused("no executables")
        return self.changes

    async def pre_finish(self, ask: FinishAsk) -> None:
        self.asked.append(ask)
        if self.refuse_finish:
            raise HookRefusedState("virus found")

    async def pre_access(self, ask: AccessAsk) -> None:
        self.asked.append(ask)
        if self.refuse_access:
            raise HookRefused("not today")

    async def aclose(self) -> None:
        pass


def clock() -> datetime:
    return datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def hooks() -> ScriptedHooks:
    return ScriptedHooks()


@pytest.fixture
def services(hooks: ScriptedHooks) -> Services:
    made = fake_services(clock, default_part_size=8 * 1024 * 1024)
    made.uploads.hooks = hooks
    return made


async def one(data: bytes) -> AsyncIterator[bytes]:
    yield data


def test_pre_create_refuses_or_changes_the_session(
    services: Services, hooks: ScriptedHooks
) -> None:
    async def scenario() -> None:
        uploads = services.uploads
        with pytest.raises(HookRefused, match="no executables"):
            await uploads.create(TENANT, SERVICE, NewSession("a.exe", "root", 10))
        hooks.changes = CreateChanges(name="renamed.txt", part_size=1024 * 1024)
        session = await uploads.create(TENANT, SERVICE, NewSession("b.txt", "root", 3 << 20))
        assert (session.name, session.part_size) == ("renamed.txt", 1024 * 1024)
        # A retried create (same idempotency key), renamed the same way, finds the first.
        hooks.changes = CreateChanges(name="e.txt")
        first = await uploads.create(
            TENANT, SERVICE, NewSession("d.txt", "root", 1), idempotency_key="k"
        )
        again = await uploads.create(
            TENANT, SERVICE, NewSession("d.txt", "root", 1), idempotency_key="k"
        )
        assert again.id == first.id and first.name == "e.txt"
        # A larger part size than partway's choice is not taken.
        hooks.changes = CreateChanges(part_size=64 << 20)
        session = await uploads.create(TENANT, SERVICE, NewSession("c.txt", "root", 3 << 20))
        assert session.part_size == 8 << 20

    asyncio.run(scenario())


def test_pre_create_metadata_replaces_the_clients(services: Services, hooks: ScriptedHooks) -> None:
    async def scenario() -> None:
        uploads = services.uploads
        sent = (("filename", "m.txt"), ("by", "cli"))
        kept = await uploads.create(
            TENANT, SERVICE, NewSession("k.txt", "root", 5, client_metadata=sent)
        )
        assert kept.client_metadata == sent  # no change from the hook: the client's
        hooks.changes = CreateChanges(metadata={"scan": "pending"})
        session = await uploads.create(
            TENANT, SERVICE, NewSession("m.txt", "root", 5, client_metadata=sent)
        )
        ask = hooks.asked[-1]
        assert isinstance(ask, CreateAsk) and ask.metadata == dict(sent)
        assert session.client_metadata == (("scan", "pending"),)
        assert (await uploads.get(TENANT, session.id)).client_metadata == (("scan", "pending"),)
        # A hook's metadata is bounded: one-token keys (tus), 64 of them, 8 KiB in all.
        for bad, why in (
            ({"a b": ""}, "space, comma"),
            ({f"k{n}": "v" for n in range(65)}, "more than 64"),
            ({"big": "x" * 9000}, "over 8192 bytes"),
        ):
            hooks.changes = CreateChanges(metadata=bad)
            with pytest.raises(InvalidInput, match=why):
                await uploads.create(TENANT, SERVICE, NewSession("n.txt", "root", 1))

    asyncio.run(scenario())


def test_pre_finish_refusal_leaves_the_session_open(
    services: Services, hooks: ScriptedHooks
) -> None:
    async def scenario() -> None:
        uploads = services.uploads
        session = await uploads.create(TENANT, SERVICE, NewSession("eicar.txt", "root", 5))
        await uploads.write_range(TENANT, session.id, PartRule(0, uploads.policy), one(b"hello"),
                                  5, None)  # fmt: skip
        hooks.refuse_finish = True
        with pytest.raises(HookRefusedState, match="virus found"):
            await uploads.finish(TENANT, session.id, None)
        assert (await uploads.get(TENANT, session.id)).state is SessionState.OPEN
        hooks.refuse_finish = False
        entry = await uploads.finish(TENANT, session.id, None)
        assert entry.size == 5
        with pytest.raises(HookRefused):
            hooks.refuse_access = True
            await services.files.download(TENANT, entry.id, None)
        assert isinstance(hooks.asked[-1], AccessAsk) and hooks.asked[-1].via == "download"

    asyncio.run(scenario())


def test_folder_and_file_changes_are_written_to_the_outbox(services: Services) -> None:
    async def scenario() -> None:
        files = services.files
        folder = await files.create_folder(TENANT, "docs", "root", None, None)
        await files.update(TENANT, folder.id, EntryKind.FOLDER, EntryPatch(name="docs2"))
        await files.delete_folder(TENANT, folder.id)
        kinds = [(r.kind, r.entity_id) for r in await services.repo.outbox_after(0, 10)]
        assert kinds == [
            ("folder.created", folder.id),
            ("folder.updated", folder.id),
            ("folder.deleted", folder.id),
        ]

    asyncio.run(scenario())
