"""Direct ranges on S3: presigned UploadPart URLs for clients, ListParts to check what they
stored. A companion of S3Storage that shares its clients (one set per event loop)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ..domain.direct import RangeTicket
from ..domain.models import ByteRange, Placement
from .s3 import S3Storage, _store_errors, part_number


class S3DirectRanges:
    def __init__(self, storage: S3Storage) -> None:
        self._storage = storage

    async def range_ticket(
        self, at: Placement, start: int, size: int, ttl: timedelta
    ) -> RangeTicket:
        s3 = await self._storage._s3()
        where = self._storage._where
        url = await s3.generate_presigned_url(
            "upload_part",
            Params={
                "Bucket": where.bucket,
                "Key": self._storage._object(at.key),
                "UploadId": at.handle,
                "PartNumber": part_number(at, start),
            },
            ExpiresIn=int(ttl.total_seconds()),
        )
        return RangeTicket(start, size, url, {}, datetime.now(UTC) + ttl)

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
                    found.append(ByteRange(start, part["Size"], tag=part["ETag"]))
        return found
