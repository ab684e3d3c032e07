"""Blocking hooks: the operator's code asked before an upload starts, before it becomes a file,
and before a file is read, and able to say no (or, at create, to change what is made).

The core only knows this port; `webhooks/hooks.py` asks over HTTP. A refusal is a domain error
like any other, so each front's error table decides how the client sees it."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal, Protocol

from .errors import DomainError, InvalidInput, InvalidState
from .models import NewSession, Tenant
from .names import check_metadata, check_name
from .policy import StorageCapabilities


class HookRefused(DomainError):
    """A hook said no (its message is the client's)."""


class HookRefusedInput(HookRefused, InvalidInput):
    """A hook said no because of what the client asked (status 400 from the hook)."""


class HookRefusedState(HookRefused, InvalidState):
    """A hook said no for now (status 422 from the hook), e.g. a file not yet scanned."""


class HookUnavailable(DomainError):
    """A fail-closed hook did not answer in time or answered nonsense."""


@dataclass(frozen=True)
class CreateAsk:
    tenant: Tenant
    service_id: str
    name: str
    parent_folder_id: str
    drive_id: str | None
    size: int | None
    # The client's metadata pairs (tus Upload-Metadata); none from the Apideck front.
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CreateChanges:
    """What a pre-create hook may change; None keeps the client's choice. A part size is only
    taken when it is smaller than the one partway chose (and within the store's limits)."""

    name: str | None = None
    parent_folder_id: str | None = None
    part_size: int | None = None
    metadata: dict[str, str] | None = None  # replaces the client's, whole


@dataclass(frozen=True)
class FinishAsk:
    tenant: Tenant
    session_id: str
    name: str
    parent_folder_id: str
    size: int | None  # as declared at create


@dataclass(frozen=True)
class AccessAsk:
    tenant: Tenant
    file_id: str
    name: str
    size: int | None
    via: Literal["download", "shared_link"]
    link_id: str | None = None


class Hooks(Protocol):
    async def pre_create(self, ask: CreateAsk) -> CreateChanges: ...

    async def pre_finish(self, ask: FinishAsk) -> None: ...

    async def pre_access(self, ask: AccessAsk) -> None: ...

    async def aclose(self) -> None: ...


class NoHooks:
    async def pre_create(self, ask: CreateAsk) -> CreateChanges:
        return CreateChanges()

    async def pre_finish(self, ask: FinishAsk) -> None:
        pass

    async def pre_access(self, ask: AccessAsk) -> None:
        pass

    async def aclose(self) -> None:
        pass


def changed_request(req: NewSession, changes: CreateChanges) -> NewSession:
    """The create as the pre-create hook changed it (name and metadata checked like a
    client's)."""
    return replace(
        req,
        name=check_name(changes.name) if changes.name is not None else req.name,
        parent_folder_id=changes.parent_folder_id or req.parent_folder_id,
        client_metadata=req.client_metadata
        if changes.metadata is None
        else tuple(check_metadata(changes.metadata).items()),
    )


def hooked_part_size(
    chosen: int, wanted: int | None, size: int | None, caps: StorageCapabilities, max_parts: int
) -> int:
    """The hook's part size when smaller than the chosen one and still one the store takes and
    that fits the size in the allowed number of parts; else the chosen one."""
    if wanted is None or wanted >= chosen or wanted < caps.min_part_size:
        return chosen
    if size is not None and -(-size // wanted) > min(max_parts, caps.max_parts):
        return chosen
    return wanted
