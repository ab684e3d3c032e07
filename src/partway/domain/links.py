"""Shared links: a file or folder reachable without API credentials, by a token alone.

A token is `<link id>.<HMAC(secret, link id, salt)>`: the server re-derives it to show a link's
URL, a request is checked in constant time against the row it names, and a row read from a
leaked database is no token without the secret. Deleting the row stops the link at once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import ParamSpec, Protocol, TypeVar

from .errors import InvalidInput, LinkRefused, NotFound, PasswordRequired
from .models import ROOT_FOLDER_ID, SERVER_ID, Entry, EntryKind, Tenant, new_id
from .paging import Page, check_limit, cursor_offset, offset_cursor
from .ports import Clock
from .repositories import EntryRepository
from .signing import Signer, new_salt

P = ParamSpec("P")
T = TypeVar("T")

PURPOSE = "shared-link"
# scrypt at n=2**14, r=8: ~16 MiB and ~40 ms per check (a guess costs the guesser as much).
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}


@dataclass(frozen=True)
class SharedLink:
    id: str
    tenant: Tenant
    target_id: str
    salt: str
    created_at: datetime
    updated_at: datetime
    scope: str | None = None
    password_hash: str | None = None
    expires_at: datetime | None = None
    max_downloads: int | None = None
    downloads: int = 0

    def live(self, now: datetime) -> bool:
        expired = self.expires_at is not None and self.expires_at <= now
        used_up = self.max_downloads is not None and self.downloads >= self.max_downloads
        return not (expired or used_up)


@dataclass(frozen=True)
class LinkSpec:
    """What a create or update asks for; `set_*` says a field was sent (null clears it)."""

    target_id: str | None = None
    scope: str | None = None
    password: str | None = None
    expires_at: datetime | None = None
    max_downloads: int | None = None
    set_password: bool = False
    set_expires_at: bool = False
    set_max_downloads: bool = False
    set_scope: bool = False


@dataclass(frozen=True)
class Opened:
    link: SharedLink
    target: Entry


class Offload(Protocol):
    """Where CPU-heavy work runs instead of the event loop (the server: a bounded thread set)."""

    async def __call__(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T: ...


async def inline(fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """No offloading: for tests and tools that serve no other requests meanwhile."""
    return fn(*args, **kwargs)


class LinkRepository(Protocol):
    async def insert_link(self, link: SharedLink) -> None: ...

    async def get_link(self, tenant: Tenant, link_id: str) -> SharedLink | None: ...

    async def link_by_id(self, link_id: str) -> SharedLink | None:
        """Any tenant's link: the token, not the caller, names the tenant."""

    async def list_links(self, tenant: Tenant, offset: int, limit: int) -> list[SharedLink]: ...

    async def update_link(self, link: SharedLink) -> None: ...

    async def delete_link(self, tenant: Tenant, link_id: str) -> bool: ...

    async def count_download(self, link_id: str, now: datetime) -> bool:
        """Count one download if the link is still live (atomically); False if it is not."""

    async def entry_by_id(self, entry_id: str) -> Entry | None:
        """Any tenant's entry (a signed URL's signature names the tenant)."""


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, **_SCRYPT)
    return f"scrypt${salt.hex()}${digest.hex()}"


def password_matches(stored: str, password: str) -> bool:
    _, salt, expected = stored.split("$")
    digest = hashlib.scrypt(
        password.encode(),
        salt=bytes.fromhex(salt),
        **_SCRYPT,
    )
    return hmac.compare_digest(digest.hex(), expected)


class LinkService:
    def __init__(
        self,
        repo: LinkRepository,
        entries: EntryRepository,
        signer: Signer,
        clock: Clock,
        kdf: Offload = inline,
    ) -> None:
        self._repo = repo
        self._entries = entries
        self._signer = signer
        self._clock = clock
        self._kdf = kdf

    def token(self, link: SharedLink) -> str:
        return f"{link.id}.{self._signer.sign(PURPOSE, link.id, link.salt)}"

    async def target(self, tenant: Tenant, target_id: str | None) -> Entry:
        if not target_id:
            raise InvalidInput("target_id is required: the id of a file or folder")
        entry = None
        if target_id != ROOT_FOLDER_ID:
            entry = await self._entries.get_entry(tenant, target_id)
        if entry is None:
            raise NotFound(f"file or folder {target_id!r} not found")
        return entry

    async def create(self, tenant: Tenant, spec: LinkSpec) -> tuple[SharedLink, Entry]:
        entry = await self.target(tenant, spec.target_id)
        now = self._clock()
        link = SharedLink(new_id("lnk"), tenant, entry.id, new_salt(), now, now)
        link = self._apply(link, replace(spec, set_scope=True), now, await self._hashed(spec))
        await self._repo.insert_link(link)
        return link, entry

    async def _hashed(self, spec: LinkSpec) -> str | None:
        if not (spec.set_password and spec.password):
            return None
        return await self._kdf(hash_password, spec.password)

    def _apply(
        self, link: SharedLink, spec: LinkSpec, now: datetime, hashed: str | None
    ) -> SharedLink:
        if spec.set_scope:
            link = replace(link, scope=spec.scope)
        if spec.set_password:
            link = replace(link, password_hash=hashed)
        if spec.set_expires_at:
            if spec.expires_at is not None and spec.expires_at.tzinfo is None:
                raise InvalidInput("expires_at needs a time zone (e.g. Z)")
            link = replace(link, expires_at=spec.expires_at)
        if spec.set_max_downloads:
            link = replace(link, max_downloads=spec.max_downloads)
        return replace(link, updated_at=now)

    async def get(self, tenant: Tenant, link_id: str) -> tuple[SharedLink, Entry | None]:
        link = await self._repo.get_link(tenant, link_id)
        if link is None:
            raise NotFound(f"shared link {link_id!r} not found")
        return link, await self._entries.get_entry(tenant, link.target_id)

    async def list(
        self, tenant: Tenant, cursor: str | None, limit: int
    ) -> Page[tuple[SharedLink, Entry | None]]:
        check_limit(limit)
        offset = cursor_offset(cursor)
        rows = await self._repo.list_links(tenant, offset, limit + 1)
        more = len(rows) > limit
        items = [(link, await self._entries.get_entry(tenant, link.target_id)) for link in rows]
        return Page(items[:limit], cursor, offset_cursor(offset + limit) if more else None)

    async def update(
        self, tenant: Tenant, link_id: str, spec: LinkSpec
    ) -> tuple[SharedLink, Entry | None]:
        link, entry = await self.get(tenant, link_id)
        if spec.target_id is not None and spec.target_id != link.target_id:
            entry = await self.target(tenant, spec.target_id)
            link = replace(link, target_id=entry.id)
        link = self._apply(link, spec, self._clock(), await self._hashed(spec))
        await self._repo.update_link(link)
        return link, entry

    async def delete(self, tenant: Tenant, link_id: str) -> None:
        if not await self._repo.delete_link(tenant, link_id):
            raise NotFound(f"shared link {link_id!r} not found")

    async def open(self, token: str, password: str | None) -> Opened:
        """The link a token names, if it still works. Unknown, forged and deleted tokens look
        alike (404); expired or used-up links say so (410)."""
        link_id, _, tag = token.partition(".")
        unknown = NotFound("this link does not exist or was revoked")
        if not SERVER_ID.match(link_id) or not tag:
            raise unknown
        link = await self._repo.link_by_id(link_id)
        if link is None or not self._signer.verify(tag, PURPOSE, link.id, link.salt):
            raise unknown
        if not link.live(self._clock()):
            raise LinkRefused("this link has expired or reached its download limit")
        if link.password_hash is not None and not await self._password_ok(link, password):
            raise PasswordRequired("this link needs its password")
        target = await self._entries.get_entry(link.tenant, link.target_id)
        if target is None:
            raise unknown
        return Opened(link, target)

    async def _password_ok(self, link: SharedLink, password: str | None) -> bool:
        stored = link.password_hash
        if stored is None or not password:
            return False
        return await self._kdf(password_matches, stored, password)

    async def entry_anywhere(self, entry_id: str) -> Entry | None:
        """The entry a credential-free URL names; the caller checks that URL's signature."""
        return await self._repo.entry_by_id(entry_id)

    async def still_open(self, link: SharedLink) -> bool:
        """Whether a download begun through `link` may go on: the link was not deleted and has
        not expired since (its download limit is not asked: the download counted already)."""
        now = self._clock()
        current = await self._repo.link_by_id(link.id)
        return current is not None and (current.expires_at is None or current.expires_at > now)

    async def count_download(self, link: SharedLink) -> None:
        if not await self._repo.count_download(link.id, self._clock()):
            raise LinkRefused("this link has expired or reached its download limit")

    async def file_below(self, opened: Opened, file_id: str) -> Entry:
        """A file inside a linked folder (at any depth); NotFound for anything else."""
        entry = await self._entries.get_entry(opened.link.tenant, file_id)
        folder = opened.target
        if entry is None or entry.kind is not EntryKind.FILE or folder.kind is EntryKind.FILE:
            raise NotFound(f"file {file_id!r} not found under this link")
        parent_id = entry.parent_id
        for _ in range(256):
            if parent_id == folder.id:
                return entry
            if parent_id == ROOT_FOLDER_ID:
                break
            parent = await self._entries.get_entry(opened.link.tenant, parent_id)
            if parent is None:
                break
            parent_id = parent.parent_id
        raise NotFound(f"file {file_id!r} not found under this link")
