"""Azure Blob Storage (block blobs): the range starting at grid cell N of a session is block N of
the blob, staged by Put Block; `complete` commits the block list.

An unfinished object is an empty blob whose metadata names its handle: writes check it, so a
range that arrives after a discard fails instead of staging a block nobody will commit, and the
inventory finds unfinished objects by it. Block bodies stream from the client's request straight
into Put Block over a SAS URL with httpx (the SDK would buffer a body it cannot rewind), the
same way S3's parts go over presigned URLs.
"""

from __future__ import annotations

import base64
import contextlib
import secrets
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, quote, urlparse

import httpx
from azure.core.exceptions import AzureError, ResourceNotFoundError
from azure.storage.blob import BlobBlock, BlobSasPermissions, generate_blob_sas
from azure.storage.blob.aio import BlobClient, BlobServiceClient, ContainerClient

from ..domain.errors import NotFound, StorageUnavailable
from ..domain.models import SERVER_ID, ByteRange, Placement, server_id
from ..domain.policy import StorageCapabilities
from ..domain.ports import Inspect, Source, StoredObject, Written
from ..perloop import PerLoop
from .s3 import S3PartWriter, part_number
from .streaming import write_through

MIB = 1024 * 1024
READ_BLOCK = 4 * MIB
SAS_SECONDS = 3600
# Block blobs: at most 50,000 blocks of at most 4,000 MiB each (service version 2019-12-12+).
# Azure has no smallest block; 1 MiB keeps a session's block list (and its commit) short.
CAPABILITIES = StorageCapabilities(
    min_part_size=MIB, max_part_size=4000 * MIB, max_parts=50_000, writes_in_place=False
)
UNFINISHED = "partway_upload"  # metadata naming an unfinished object's handle


@dataclass(frozen=True)
class AzureLocation:
    container: str
    prefix: str
    account_url: str
    account_name: str
    account_key: str

    @classmethod
    def parse(cls, url: str, env: Mapping[str, str]) -> AzureLocation:
        """`azure://container[/prefix][?account_url=…]`; credentials from `env`:
        AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT + AZURE_STORAGE_KEY."""
        parsed = urlparse(url)
        if parsed.scheme != "azure" or not parsed.hostname:
            raise ValueError(f"an Azure storage URL looks like azure://container/prefix: {url!r}")
        options = {name: values[-1] for name, values in parse_qs(parsed.query).items()}
        if set(options) - {"account_url"}:
            raise ValueError(f"unknown Azure storage option(s) in {url!r}")
        name, key, endpoint = _credentials(env)
        prefix = parsed.path.strip("/")
        return cls(
            container=parsed.hostname,
            prefix=f"{prefix}/" if prefix else "",
            account_url=options.get("account_url")
            or endpoint
            or f"https://{name}.blob.core.windows.net",
            account_name=name,
            account_key=key,
        )


def _credentials(env: Mapping[str, str]) -> tuple[str, str, str | None]:
    """(account name, account key, blob endpoint if the connection string gives one)."""
    if conn := env.get("AZURE_STORAGE_CONNECTION_STRING"):
        fields = dict(p.split("=", 1) for p in conn.split(";") if "=" in p)
        if "AccountName" in fields and "AccountKey" in fields:
            return fields["AccountName"], fields["AccountKey"], fields.get("BlobEndpoint")
        raise ValueError("AZURE_STORAGE_CONNECTION_STRING needs AccountName and AccountKey")
    if env.get("AZURE_STORAGE_ACCOUNT") and env.get("AZURE_STORAGE_KEY"):
        return env["AZURE_STORAGE_ACCOUNT"], env["AZURE_STORAGE_KEY"], None
    raise ValueError(
        "Azure storage needs AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT and "
        "AZURE_STORAGE_KEY"
    )


@contextlib.contextmanager
def _store_errors(what: str) -> Iterator[None]:
    """Store failures become retryable 503s; a vanished blob becomes a 404."""
    try:
        yield
    except ResourceNotFoundError as exc:
        raise NotFound(f"the upload's storage object is gone ({what})") from exc
    except (AzureError, httpx.HTTPError) as exc:
        raise StorageUnavailable(f"Azure storage failed while {what}: {exc}") from exc


def block_id(handle: str, number: int) -> str:
    """Block ids of one blob must all have the same length: a fixed-width handle and number.
    The SDK base64-encodes ids itself (commit, list); on the wire they travel encoded."""
    return f"{handle}-{number:05d}"


def _wire(block: str) -> str:
    return quote(base64.b64encode(block.encode()).decode(), safe="")


class PutBlockWriter(S3PartWriter):
    """S3's streaming part writer, aimed at Put Block: Azure answers 201 and no ETag, so the
    range's receipt is its block id."""

    def __init__(self, http: httpx.AsyncClient, url: str, length: int | None, block: str) -> None:
        super().__init__(http, url, length)
        self._block = block

    async def _send(self, content: AsyncIterator[bytes], length: int) -> str:
        with _store_errors("staging a block"):
            response = await self._http.put(
                self._url, content=content, headers={"Content-Length": str(length)}
            )
        if response.status_code == 404:
            raise NotFound("the upload's storage container is gone")
        if response.status_code != 201:
            raise StorageUnavailable(
                f"Azure answered {response.status_code} to Put Block: {response.text[:200]}"
            )
        return self._block


@dataclass(frozen=True)
class _Clients:
    container: ContainerClient
    http: httpx.AsyncClient
    stack: contextlib.AsyncExitStack


class AzureStorage:
    def __init__(self, location: AzureLocation) -> None:
        self._where = location
        self._clients = PerLoop(self._open_clients)

    @property
    def capabilities(self) -> StorageCapabilities:
        return CAPABILITIES

    def _blob(self, key: str) -> str:
        return self._where.prefix + server_id(key, "storage key")

    async def _open_clients(self) -> _Clients:
        stack = contextlib.AsyncExitStack()
        credential = {
            "account_name": self._where.account_name,
            "account_key": self._where.account_key,
        }
        # The SDK's own retry policy (exponential, 3 tries) covers the control calls.
        service = await stack.enter_async_context(
            BlobServiceClient(self._where.account_url, credential=credential, retry_total=3)
        )
        container = service.get_container_client(self._where.container)
        limits = httpx.Limits(max_connections=256, max_keepalive_connections=64)
        timeout = httpx.Timeout(120.0, connect=10.0, pool=60.0)
        http = await stack.enter_async_context(httpx.AsyncClient(limits=limits, timeout=timeout))
        return _Clients(container, http, stack)

    async def _container(self) -> ContainerClient:
        return (await self._clients.get()).container

    async def blob_client(self, key: str) -> BlobClient:
        return (await self._container()).get_blob_client(self._blob(key))

    async def block_url(self, at: Placement, block: str, ttl: timedelta) -> str:
        """A URL that stages `block` of the object by a plain PUT, for `ttl` (a write-only
        SAS on this one blob)."""
        name = self._blob(at.key)
        sas = generate_blob_sas(
            self._where.account_name,
            self._where.container,
            name,
            account_key=self._where.account_key,
            permission=BlobSasPermissions(write=True),
            expiry=datetime.now(UTC) + ttl,
        )
        blob_url = (await self.blob_client(at.key)).url
        return f"{blob_url}?{sas}&comp=block&blockid={_wire(block)}"

    async def begin(self, key: str) -> str:
        handle = secrets.token_hex(8)
        container = await self._container()
        with _store_errors("starting an upload"):
            await container.upload_blob(
                self._blob(key), b"", overwrite=True, metadata={UNFINISHED: handle}
            )
        return handle

    async def _check_unfinished(self, at: Placement) -> None:
        container = await self._container()
        with _store_errors("checking an upload"):
            props = await container.get_blob_client(self._blob(at.key)).get_blob_properties()
        if props.metadata.get(UNFINISHED) != at.handle:
            raise NotFound("the upload's storage object is gone (aborted or finished)")

    async def write_range(
        self,
        at: Placement,
        start: int,
        source: Source,
        length: int | None,
        limit: int,
        inspect: Inspect | None = None,
        accept: Callable[[int], None] | None = None,
    ) -> Written:
        block = block_id(at.handle, part_number(at, start))
        await self._check_unfinished(at)
        clients = await self._clients.get()
        url = await self.block_url(at, block, timedelta(seconds=SAS_SECONDS))
        writer = PutBlockWriter(clients.http, url, length, block)
        return await write_through(writer, source, limit, inspect, accept)

    async def complete(self, at: Placement, ranges: list[ByteRange], size: int) -> int | None:
        # An empty list commits an empty blob; committing the same list again is a no-op
        # (each id is found among the committed blocks), so a retried finish succeeds.
        blocks = [BlobBlock(block_id=r.tag or "") for r in ranges if r.size]
        blob = (await self._container()).get_blob_client(self._blob(at.key))
        with _store_errors("completing an upload"):
            await blob.commit_block_list(blocks, metadata={})
        return None  # a block list reports no checksum of the blob

    async def reopen(self, at: Placement, ranges: list[ByteRange]) -> tuple[str, list[ByteRange]]:
        """The committed blocks stay addressable by id until the next commit: the object only
        gets a new handle (new ranges' blocks get new ids), and no bytes move."""
        handle = secrets.token_hex(8)
        blob = (await self._container()).get_blob_client(self._blob(at.key))
        with _store_errors("reopening an upload"):
            await blob.set_blob_metadata({UNFINISHED: handle})
        return handle, list(ranges)

    async def read(self, key: str, start: int, end: int) -> AsyncIterator[bytes]:
        if start >= end:
            return
        blob = (await self._container()).get_blob_client(self._blob(key))
        with _store_errors("reading a file"):
            stream = await blob.download_blob(offset=start, length=end - start)
            async for block in stream.chunks():
                yield block

    async def discard(self, key: str, handle: str) -> None:
        # Deleting the blob drops its uncommitted blocks too.
        await self.delete(key)

    async def delete(self, key: str) -> None:
        blob = (await self._container()).get_blob_client(self._blob(key))
        with _store_errors("deleting a file"), contextlib.suppress(ResourceNotFoundError):
            await blob.delete_blob()

    async def inventory(self) -> list[StoredObject]:
        container = await self._container()
        found: list[StoredObject] = []
        prefix = self._where.prefix
        with _store_errors("listing objects"):
            # Uncommitted blobs too: blocks a client PUT over a still-valid URL after an abort
            # (direct parts) sit on a blob of that kind, which the orphan sweep then deletes.
            listing = container.list_blobs(
                name_starts_with=prefix, include=["metadata", "uncommittedblobs"]
            )
            async for blob in listing:
                key = blob.name.removeprefix(prefix)
                if SERVER_ID.match(key):
                    handle = (blob.metadata or {}).get(UNFINISHED, "")
                    found.append(StoredObject(key, blob.last_modified, handle))
        return found

    async def ready(self) -> None:
        container = await self._container()
        with _store_errors("checking the container"):
            await container.get_container_properties()

    async def close(self) -> None:
        clients = self._clients.take()
        if clients is not None:
            await clients.stack.aclose()
