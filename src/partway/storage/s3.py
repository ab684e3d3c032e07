"""S3-compatible object storage: the range starting at grid cell N of a session is part N+1 of
one multipart upload (S3 cannot write at an arbitrary offset; ranges start on the grid).

Control calls (create, complete, abort, list, get) go through aiobotocore. Part bodies go into
UploadPart over a presigned URL: spliced socket to socket where they can be (storage/s3_splice.py),
else streamed from the client's request with httpx:
botocore signs a request body by reading it whole, which would buffer the part, while a presigned
URL carries an unsigned payload and lets the bytes flow through with a fixed Content-Length.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, unquote, urlparse

import httpx
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError

from ..domain.errors import InvalidInput, NotFound, StorageUnavailable
from ..domain.models import SERVER_ID, ByteRange, Placement, server_id
from ..domain.policy import StorageCapabilities
from ..domain.ports import Bytes, Inspect, Source, StoredObject, Written
from ..perloop import PerLoop
from .s3_checksums import FULL_OBJECT, FullObjectChecksums, check_full_object
from .s3_splice import StoreConnections, spliceable, write_spliced
from .streaming import write_through

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client
    from types_aiobotocore_s3.type_defs import CompletedPartTypeDef, CopySourceTypeDef

MIB = 1024 * 1024
READ_BLOCK = MIB
PRESIGN_SECONDS = 3600
# S3's multipart limits; compatible stores (MinIO, Ceph RGW, R2) share them.
CAPABILITIES = StorageCapabilities(
    min_part_size=5 * MIB, max_part_size=5 * 1024 * MIB, max_parts=10_000, writes_in_place=False
)
_GONE = {"NoSuchUpload", "NoSuchKey", "404"}
# A range whose tag starts so is a tail (storage/s3_tails.py): a small object of its own named
# after the upload's key and the tag, not a part of the multipart upload.
TAIL_TAG = "tail:"
TAIL_INFIX = ".tail."
# CopyObject copies at most 5 GiB; bigger objects are copied in ranges of this many bytes.
COPY_OBJECT_MAX = 5 * 1024 * MIB
COPY_PART = 1024 * MIB


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str
    endpoint_url: str | None
    region: str | None
    addressing_style: str
    access_key: str | None = None
    secret_key: str | None = None
    checksums: str = "auto"  # the store's full-object CRC32C: probed (auto) or not asked (off)

    @classmethod
    def parse(cls, url: str) -> S3Location:
        """`s3://[key:secret@]bucket[/prefix][?endpoint_url=…&region=…&addressing_style=…
        &checksums=auto|off]`.

        Without key and secret in the URL, credentials come from the usual AWS settings.
        """
        parsed = urlparse(url)
        if parsed.scheme != "s3" or not parsed.hostname:
            raise ValueError(f"an S3 storage URL looks like s3://bucket/prefix, not {url!r}")
        options = {name: values[-1] for name, values in parse_qs(parsed.query).items()}
        unknown = set(options) - {"endpoint_url", "region", "addressing_style", "checksums"}
        if unknown:
            raise ValueError(f"unknown S3 storage option(s) {sorted(unknown)} in {url!r}")
        style = options.get("addressing_style", "path" if "endpoint_url" in options else "auto")
        prefix = parsed.path.strip("/")
        return cls(
            bucket=parsed.hostname,
            prefix=f"{prefix}/" if prefix else "",
            endpoint_url=options.get("endpoint_url"),
            region=options.get("region"),
            addressing_style=style,
            access_key=unquote(parsed.username) if parsed.username else None,
            secret_key=unquote(parsed.password) if parsed.password else None,
            checksums=options.get("checksums", "auto"),
        )


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


@contextlib.contextmanager
def _store_errors(what: str):  # type: ignore[no-untyped-def]
    """Store failures become retryable 503s; a vanished upload becomes a 404."""
    try:
        yield
    except ClientError as exc:
        if _code(exc) in _GONE:
            raise NotFound(f"the upload's storage object is gone ({what})") from exc
        raise StorageUnavailable(f"object store refused {what}: {_code(exc)}") from exc
    except (BotoCoreError, httpx.HTTPError) as exc:
        raise StorageUnavailable(f"object store unreachable while {what}: {exc}") from exc


class S3PartWriter:
    """Feeds one UploadPart request from the chunks handed to `write`, with backpressure."""

    def __init__(self, http: httpx.AsyncClient, url: str, length: int | None) -> None:
        self._http = http
        self._url = url
        self._length = length
        self._queue: asyncio.Queue[Sequence[Bytes] | None] = asyncio.Queue(maxsize=2)
        self._held: list[bytes] = []
        self._sending: asyncio.Task[str] | None = None

    async def write(
        self, chunks: Sequence[Bytes], alongside: Callable[[], None] | None = None
    ) -> None:
        if alongside is not None:
            await asyncio.to_thread(alongside)
        if self._length is None:
            # UploadPart needs its length up front; a part of unknown length (a chunked request)
            # is held in memory, bounded by the part size the caller enforces.
            self._held.extend(bytes(c) for c in chunks)
            return
        await self._put(chunks)

    async def commit(self) -> str | None:
        if self._length is None:
            data = b"".join(self._held)
            self._held = []
            return await self._send(_once(data), len(data))
        await self._put(None)
        assert self._sending is not None
        return await self._sending

    async def close(self) -> None:
        sending, self._sending = self._sending, None
        if sending is not None and not sending.done():
            sending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sending

    async def _put(self, item: Sequence[Bytes] | None) -> None:
        if self._sending is None:
            assert self._length is not None
            self._sending = asyncio.create_task(self._send(self._queued(), self._length))
        put = asyncio.ensure_future(self._queue.put(item))
        try:
            await asyncio.wait({put, self._sending}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            put.cancel()  # a no-op once it is done
        if not put.done() or put.cancelled():
            await self._sending  # it ended before taking all the bytes: raises its error
            raise StorageUnavailable("the object store ended a part upload early")

    async def _queued(self) -> AsyncIterator[bytes]:
        while (chunks := await self._queue.get()) is not None:
            for chunk in chunks:
                yield chunk if isinstance(chunk, bytes) else bytes(chunk)

    async def _send(self, content: AsyncIterator[bytes], length: int) -> str:
        with _store_errors("storing a part"):
            response = await self._http.put(
                self._url, content=content, headers={"Content-Length": str(length)}
            )
        if response.status_code == 404:
            raise NotFound("the upload's storage object is gone (aborted?)")
        if response.status_code != 200 or "etag" not in response.headers:
            raise StorageUnavailable(
                f"object store answered {response.status_code} to a part upload: "
                f"{response.text[:200]}"
            )
        return response.headers["etag"]


def part_number(at: Placement, start: int) -> int:
    """The multipart part that holds the range starting at `start`: its grid cell, plus one."""
    if start % at.grid:
        raise InvalidInput(
            f"this store writes ranges only at multiples of {at.grid} bytes, not at {start}"
        )
    return start // at.grid + 1


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


@dataclass(frozen=True)
class _Clients:
    """The clients of one event loop: aiobotocore for control calls, httpx for part bodies,
    and the connections kept for spliced part bodies."""

    s3: S3Client
    http: httpx.AsyncClient
    kept: StoreConnections
    stack: contextlib.AsyncExitStack


class S3Storage:
    def __init__(self, location: S3Location) -> None:
        self._where = location
        self._config = AioConfig(
            signature_version="s3v4",
            s3={"addressing_style": location.addressing_style},
            retries={"max_attempts": 4, "mode": "standard"},
            max_pool_connections=64,
            # Checksums of control-call bodies only where S3 demands them; part bodies are
            # verified by partway's own digests as they stream through.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        self._clients = PerLoop(self._open_clients)
        self._full_object = FullObjectChecksums(location.checksums)

    @property
    def capabilities(self) -> StorageCapabilities:
        return CAPABILITIES

    def _object(self, key: str) -> str:
        return self._where.prefix + server_id(key, "storage key")

    def _tail_object(self, key: str, tag: str) -> str:
        """The object holding a tail of upload `key`, from the tail's tag."""
        nonce = tag.removeprefix(TAIL_TAG)
        if not tag.startswith(TAIL_TAG) or not nonce.isalnum():
            raise InvalidInput(f"{tag!r} is not the receipt of a stored tail")
        return self._object(key) + TAIL_INFIX + nonce

    async def _parts_of_tails(self, at: Placement, ranges: list[ByteRange]) -> list[ByteRange]:
        """The ranges, each tail among them (an upload finished while its last bytes were one)
        copied by the store into its part: at most one per upload, the last."""
        s3 = await self._s3()
        bucket, name = self._where.bucket, self._object(at.key)
        parts = []
        for held in ranges:
            if held.size and (held.tag or "").startswith(TAIL_TAG):
                source = self._tail_object(at.key, held.tag or "")
                with _store_errors("making the last part of a tail"):
                    copied = await s3.upload_part_copy(
                        Bucket=bucket,
                        Key=name,
                        UploadId=at.handle,
                        PartNumber=part_number(at, held.start),
                        CopySource={"Bucket": bucket, "Key": source},
                    )
                held = replace(held, tag=copied["CopyPartResult"]["ETag"])
            parts.append(held)
        return parts

    async def _drop_tails(self, key: str) -> None:
        """Every tail object of an upload: those recorded, and any a crash left unrecorded."""
        s3 = await self._s3()
        bucket = self._where.bucket
        with _store_errors("removing an upload's tails"):
            listing = s3.get_paginator("list_objects_v2")
            async for page in listing.paginate(
                Bucket=bucket, Prefix=self._object(key) + TAIL_INFIX
            ):
                for obj in page.get("Contents", []):
                    await s3.delete_object(Bucket=bucket, Key=obj["Key"])

    async def _s3(self) -> S3Client:
        return (await self._clients.get()).s3

    async def _open_clients(self) -> _Clients:
        stack = contextlib.AsyncExitStack()
        s3 = await stack.enter_async_context(
            get_session().create_client(
                "s3",
                endpoint_url=self._where.endpoint_url,
                region_name=self._where.region,
                aws_access_key_id=self._where.access_key,
                aws_secret_access_key=self._where.secret_key,
                config=self._config,
            )
        )
        limits = httpx.Limits(max_connections=256, max_keepalive_connections=64)
        timeout = httpx.Timeout(120.0, connect=10.0, pool=60.0)
        http = await stack.enter_async_context(httpx.AsyncClient(limits=limits, timeout=timeout))
        kept = StoreConnections()
        stack.callback(kept.close)
        return _Clients(s3, http, kept, stack)

    async def _checksummed(self) -> bool:
        """Whether this store keeps a full-object CRC32C of partway's uploads (s3_checksums)."""
        s3 = await self._s3()
        with _store_errors("asking the store whether it keeps checksums"):
            return await self._full_object.supported(s3, self._where.bucket, self._where.prefix)

    async def begin(self, key: str) -> str:
        s3 = await self._s3()
        asked = FULL_OBJECT if await self._checksummed() else {}
        with _store_errors("starting an upload"):
            created = await s3.create_multipart_upload(
                Bucket=self._where.bucket, Key=self._object(key), **asked
            )
        return created["UploadId"]

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
        clients = await self._clients.get()
        url = await clients.s3.generate_presigned_url(
            "upload_part",
            Params={
                "Bucket": self._where.bucket,
                "Key": self._object(at.key),
                "UploadId": at.handle,
                "PartNumber": part_number(at, start),
            },
            ExpiresIn=PRESIGN_SECONDS,
        )
        body = spliceable(url, source) if inspect is None else None
        if body is not None:
            return await write_spliced(url, body, limit, accept, clients.kept)
        writer = S3PartWriter(clients.http, url, length)
        return await write_through(writer, source, limit, inspect, accept)

    async def complete(self, at: Placement, ranges: list[ByteRange], size: int) -> int | None:
        s3 = await self._s3()
        key, handle = at.key, at.handle
        bucket, name = self._where.bucket, self._object(key)
        if size == 0:
            # S3 refuses to complete without a part; an empty file is simply an empty object.
            await self._abort_upload(key, handle)
            with _store_errors("storing an empty file"):
                await s3.put_object(Bucket=bucket, Key=name, Body=b"")
            await self._drop_tails(key)
            return None
        try:
            ranges = await self._parts_of_tails(at, ranges)
        except NotFound:
            if await self._size(key) == size:
                # An earlier finish completed it (and dropped the tail), then crashed.
                with _store_errors("reading the store's checksum"):
                    return await self._full_object_crc32c(name, ranges, {})
            raise
        listed: list[CompletedPartTypeDef] = [
            {"PartNumber": part_number(at, r.start), "ETag": r.tag or ""} for r in ranges if r.size
        ]
        with _store_errors("completing an upload"):
            answer: dict[str, object] = {}
            try:
                completed = await s3.complete_multipart_upload(
                    Bucket=bucket, Key=name, UploadId=handle, MultipartUpload={"Parts": listed}
                )
                answer = dict(completed)
            except ClientError as exc:
                # An earlier finish completed it, then crashed: compared all the same.
                if _code(exc) != "NoSuchUpload" or await self._size(key) != size:
                    raise
            crc = await self._full_object_crc32c(name, ranges, answer)
        await self._drop_tails(key)
        return crc

    async def _full_object_crc32c(
        self, name: str, ranges: list[ByteRange], completed: dict[str, object]
    ) -> int | None:
        """The store's CRC32C of the object, checked against the ranges'; None where the store
        keeps none (RGW 16.2)."""
        if not await self._checksummed():
            return None
        s3 = await self._s3()
        return await check_full_object(s3, self._where.bucket, name, ranges, completed)

    async def _size(self, key: str) -> int | None:
        s3 = await self._s3()
        try:
            head = await s3.head_object(Bucket=self._where.bucket, Key=self._object(key))
        except ClientError as exc:
            if _code(exc) in _GONE:
                return None
            raise
        return head["ContentLength"]

    async def reopen(self, at: Placement, ranges: list[ByteRange]) -> tuple[str, list[ByteRange]]:
        """Server-side copies of each range into a new multipart upload; no bytes move through
        partway."""
        s3 = await self._s3()
        key = at.key
        handle = await self.begin(key)
        bucket, name = self._where.bucket, self._object(key)
        restored: list[ByteRange] = []
        with _store_errors("restoring an upload's parts"):
            for part in sorted(ranges, key=lambda r: r.start):
                if part.size == 0:
                    done = await s3.upload_part(
                        Bucket=bucket,
                        Key=name,
                        UploadId=handle,
                        PartNumber=part_number(at, part.start),
                        Body=b"",
                    )
                    tag = done["ETag"]
                else:
                    copied = await s3.upload_part_copy(
                        Bucket=bucket,
                        Key=name,
                        UploadId=handle,
                        PartNumber=part_number(at, part.start),
                        CopySource={"Bucket": bucket, "Key": name},
                        CopySourceRange=f"bytes={part.start}-{part.end - 1}",
                    )
                    tag = copied["CopyPartResult"]["ETag"]
                restored.append(replace(part, tag=tag))
        await self.delete(key)
        return handle, restored

    async def read(self, key: str, start: int, end: int) -> AsyncIterator[bytes]:
        if start >= end:
            return
        s3 = await self._s3()
        with _store_errors("reading a file"):
            got = await s3.get_object(
                Bucket=self._where.bucket, Key=self._object(key), Range=f"bytes={start}-{end - 1}"
            )
        async with got["Body"] as body:
            with _store_errors("reading a file"):
                async for block in body.iter_chunks(READ_BLOCK):
                    yield block

    async def copy_object(self, source_key: str, target_key: str, size: int) -> None:
        """A server-side copy (folder copy): CopyObject up to S3's 5 GiB limit for it, above
        that a multipart upload of UploadPartCopy ranges. No bytes pass through partway."""
        s3 = await self._s3()
        bucket, name = self._where.bucket, self._object(target_key)
        source: CopySourceTypeDef = {"Bucket": bucket, "Key": self._object(source_key)}
        with _store_errors("copying a file"):
            if size <= COPY_OBJECT_MAX:
                await s3.copy_object(Bucket=bucket, Key=name, CopySource=source)
                return
            handle = await self.begin(target_key)
            try:
                listed: list[CompletedPartTypeDef] = []
                step = max(COPY_PART, -(-size // CAPABILITIES.max_parts))
                for number, start in enumerate(range(0, size, step), start=1):
                    copied = await s3.upload_part_copy(
                        Bucket=bucket,
                        Key=name,
                        UploadId=handle,
                        PartNumber=number,
                        CopySource=source,
                        CopySourceRange=f"bytes={start}-{min(start + step, size) - 1}",
                    )
                    listed.append({"PartNumber": number, "ETag": copied["CopyPartResult"]["ETag"]})
                await s3.complete_multipart_upload(
                    Bucket=bucket, Key=name, UploadId=handle, MultipartUpload={"Parts": listed}
                )
            except BaseException:
                await self._abort_upload(target_key, handle)
                raise

    async def _abort_upload(self, key: str, handle: str) -> None:
        if not handle:
            return
        s3 = await self._s3()
        with _store_errors("aborting an upload"):
            try:
                await s3.abort_multipart_upload(
                    Bucket=self._where.bucket, Key=self._object(key), UploadId=handle
                )
            except ClientError as exc:
                if _code(exc) not in _GONE:
                    raise

    async def discard(self, key: str, handle: str) -> None:
        # A finish may have completed the upload before it crashed: drop the object as well.
        await self._abort_upload(key, handle)
        await self.delete(key)
        await self._drop_tails(key)

    async def delete(self, key: str) -> None:
        s3 = await self._s3()
        with _store_errors("deleting a file"):
            await s3.delete_object(Bucket=self._where.bucket, Key=self._object(key))

    async def inventory(self) -> list[StoredObject]:
        s3 = await self._s3()
        found: list[StoredObject] = []
        bucket, prefix = self._where.bucket, self._where.prefix
        with _store_errors("listing objects"):
            uploads = s3.get_paginator("list_multipart_uploads")
            async for page in uploads.paginate(Bucket=bucket, Prefix=prefix):
                for upload in page.get("Uploads", []):
                    key = upload["Key"].removeprefix(prefix)
                    if SERVER_ID.match(key):
                        found.append(StoredObject(key, upload["Initiated"], upload["UploadId"]))
            objects = s3.get_paginator("list_objects_v2")
            async for listing in objects.paginate(Bucket=bucket, Prefix=prefix):
                for obj in listing.get("Contents", []):
                    # A tail object is listed as its upload's: discarding that drops it too.
                    key = obj["Key"].removeprefix(prefix).split(TAIL_INFIX, 1)[0]
                    if SERVER_ID.match(key):
                        found.append(StoredObject(key, obj["LastModified"]))
        return found

    async def ready(self) -> None:
        s3 = await self._s3()
        await s3.head_bucket(Bucket=self._where.bucket)

    async def close(self) -> None:
        clients = self._clients.take()
        if clients is not None:
            await clients.stack.aclose()
