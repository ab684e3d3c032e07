"""S3 parts for Uppy's S3 plugin (domain/companion.py): a presigned UploadPart URL per part
number, and the store's list of parts. Unlike storage/s3_direct.py's URLs, these bind no
length: the plugin chooses its part size and never says it, so the store's ListParts decides at
complete (a PUT still carries at most S3's 5 GiB a part)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from ..domain.companion import PartSigner, SignedPart, StoredPart
from ..domain.models import Placement
from ..domain.ports import Storage
from ..domain.uploads import UploadService

if TYPE_CHECKING:
    from .s3 import S3Storage


class S3PartSigner:
    def __init__(self, storage: S3Storage) -> None:
        from .s3_direct import S3DirectRanges

        self._storage = storage
        self._ranges = S3DirectRanges(storage)

    async def sign_part(self, at: Placement, number: int, ttl: timedelta) -> SignedPart:
        s3 = await self._storage._s3()
        params = {
            "Bucket": self._storage._where.bucket,
            "Key": self._storage._object(at.key),
            "UploadId": at.handle,
            "PartNumber": number,
        }
        url = await s3.generate_presigned_url(
            "upload_part", Params=params, ExpiresIn=int(ttl.total_seconds())
        )
        return SignedPart(url, datetime.now(UTC) + ttl)

    async def stored_parts(self, at: Placement) -> list[StoredPart]:
        # S3DirectRanges places part n at (n - 1) × grid; the grid is undone here.
        return [
            StoredPart(r.start // at.grid + 1, r.size, r.tag or "")
            for r in await self._ranges.stored_ranges(at)
        ]


def part_signer(storage: Storage) -> PartSigner | None:
    """The store's presigned-part capability, if it is an S3 store (Azure's blocks answer no
    ETag, which the plugin needs)."""
    inner = getattr(storage, "_inner", storage)  # seen through InstrumentedStorage
    # The S3 module is loaded once an S3 store exists: not imported here for nothing.
    if "partway.storage.s3" in sys.modules:
        from .s3 import S3Storage

        if isinstance(inner, S3Storage):
            return S3PartSigner(inner)
    return None


def part_signers(uploads: UploadService) -> dict[str, PartSigner]:
    """The services whose store signs parts, by service id."""
    return {
        service: found
        for service, storage in uploads.storages().items()
        if (found := part_signer(storage)) is not None
    }
