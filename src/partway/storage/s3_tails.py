"""Tails of appended uploads on S3 (domain/grid_appends.py): the trailing piece shorter than a
part, as an object of its own beside the multipart upload (tusd's s3store keeps a `.part`
object the same way). Each tail gets a fresh name, carried in its range's tag: a new tail is
written beside the one the metadata records, which stays readable until the new one replaces
it there. S3Storage.complete makes a tail still recorded at finish the upload's last part, and
drops every tail of the upload once it is complete or discarded.

Also the server-side copy of a range of one object into a part of another (domain/concat.py
joins tus pieces so)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

from ..domain.errors import StorageUnavailable
from ..domain.models import ByteRange, Placement
from ..domain.ports import Inspect, Source, Written
from .s3 import (
    PRESIGN_SECONDS,
    READ_BLOCK,
    TAIL_TAG,
    S3PartWriter,
    S3Storage,
    _store_errors,
    part_number,
)
from .streaming import write_through


class S3Tails:
    def __init__(self, storage: S3Storage) -> None:
        self._storage = storage

    def is_tail(self, held: ByteRange) -> bool:
        return (held.tag or "").startswith(TAIL_TAG)

    async def write_tail(
        self, at: Placement, start: int, source: Source, length: int, inspect: Inspect | None
    ) -> Written:
        tag = TAIL_TAG + secrets.token_hex(8)
        store = self._storage
        clients = await store._clients.get()
        # Streamed as the parts are (storage/s3.py): a presigned PUT carries the bytes unsigned,
        # so they flow through with a fixed Content-Length instead of being read whole first.
        url = await clients.s3.generate_presigned_url(
            "put_object",
            Params={"Bucket": store._where.bucket, "Key": store._tail_object(at.key, tag)},
            ExpiresIn=PRESIGN_SECONDS,
        )
        writer = S3PartWriter(clients.http, url, length)
        written = await write_through(writer, source, length, inspect, None)
        return Written(written.size, tag)

    async def read_tail(self, at: Placement, held: ByteRange) -> AsyncIterator[bytes]:
        store = self._storage
        s3 = await store._s3()
        name = store._tail_object(at.key, held.tag or "")
        with _store_errors("reading an upload's tail"):
            got = await s3.get_object(Bucket=store._where.bucket, Key=name)
        if got["ContentLength"] != held.size:
            # The next append's bytes would be placed after the wrong count: refuse instead.
            got["Body"].close()
            raise StorageUnavailable(
                f"an upload's tail holds {got['ContentLength']} bytes, {held.size} were recorded"
            )
        async with got["Body"] as body:
            with _store_errors("reading an upload's tail"):
                async for block in body.iter_chunks(READ_BLOCK):
                    yield block

    async def drop_tail(self, at: Placement, held: ByteRange) -> None:
        store = self._storage
        s3 = await store._s3()
        name = store._tail_object(at.key, held.tag or "")
        with _store_errors("removing an upload's tail"):
            await s3.delete_object(Bucket=store._where.bucket, Key=name)


class S3RangeCopies:
    def __init__(self, storage: S3Storage) -> None:
        self._storage = storage

    async def copy_range(
        self, at: Placement, start: int, source_key: str, first: int, size: int
    ) -> Written:
        store = self._storage
        s3 = await store._s3()
        bucket = store._where.bucket
        with _store_errors("copying a range into a part"):
            copied = await s3.upload_part_copy(
                Bucket=bucket,
                Key=store._object(at.key),
                UploadId=at.handle,
                PartNumber=part_number(at, start),
                CopySource={"Bucket": bucket, "Key": store._object(source_key)},
                CopySourceRange=f"bytes={first}-{first + size - 1}",
            )
        return Written(size, copied["CopyPartResult"]["ETag"])
