"""Direct ranges on S3: presigned UploadPart URLs for clients, ListParts to check what they
stored. A companion of S3Storage that shares its clients (one set per event loop).

A part's claimed MD5 is bound into its URL as a signed Content-MD5 header: the client cannot
leave it out or change it, and the store refuses other bytes (BadDigest); the part's ETag then
is that MD5, which finish compares. A claimed CRC32C is not bound: Ceph RGW 16.2 signs but
ignores x-amz-checksum-crc32c (it stored other bytes under it, tried here), and AWS refuses
part checksums of an algorithm the multipart upload was not created with. It is compared at
finish where ListParts reports a part's CRC32C: on stores that keep a full-object CRC32C the
upload is created with that algorithm (storage/s3_checksums.py), and AWS then reports each
part's (per its documentation; moto and RGW 16.2 report none)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

from ..domain.direct import PartClaim, RangeTicket
from ..domain.models import ByteRange, Placement
from .s3 import S3Storage, _store_errors, part_number


def _b64(hex_digest: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_digest)).decode()


class S3DirectRanges:
    def __init__(self, storage: S3Storage) -> None:
        self._storage = storage

    async def range_ticket(
        self, at: Placement, start: int, size: int, ttl: timedelta, claim: PartClaim | None = None
    ) -> RangeTicket:
        s3 = await self._storage._s3()
        where = self._storage._where
        params: dict[str, object] = {
            "Bucket": where.bucket,
            "Key": self._storage._object(at.key),
            "UploadId": at.handle,
            "PartNumber": part_number(at, start),
            "ContentLength": size,
        }
        headers = {}
        if claim is not None and claim.md5 is not None:
            params["ContentMD5"] = headers["content-md5"] = _b64(claim.md5)
        url = await s3.generate_presigned_url(
            "upload_part", Params=params, ExpiresIn=int(ttl.total_seconds())
        )
        return RangeTicket(start, size, url, headers, datetime.now(UTC) + ttl)

    async def stored_ranges(self, at: Placement) -> list[ByteRange]:
        s3 = await self._storage._s3()
        where = self._storage._where
        found = []
        with _store_errors("listing an upload's parts"):
            pages = s3.get_paginator("list_parts").paginate(
                Bucket=where.bucket, Key=self._storage._object(at.key), UploadId=at.handle
            )
            async for page in pages:
                for part in page.get("Parts", []):
                    start = (part["PartNumber"] - 1) * at.grid
                    crc = part.get("ChecksumCRC32C")
                    crc32c = base64.b64decode(crc).hex() if crc else None
                    found.append(ByteRange(start, part["Size"], tag=part["ETag"], crc32c=crc32c))
        return found
