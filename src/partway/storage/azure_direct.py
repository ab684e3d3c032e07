"""Direct ranges on Azure Blob: SAS Put Block URLs for clients, the block list to check what
they staged. A companion of AzureStorage that shares its clients (one set per event loop).

A claimed MD5 goes into the ticket's headers as Content-MD5, which Put Block checks against the
bytes; a SAS signs no request headers, so unlike S3 a client could leave it out, and the block
list reports no checksum for finish to compare."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

from ..domain.direct import PartClaim, RangeTicket
from ..domain.models import ByteRange, Placement
from .azure import AzureStorage, _store_errors, block_id
from .s3 import part_number


class AzureDirectRanges:
    def __init__(self, storage: AzureStorage) -> None:
        self._storage = storage

    async def range_ticket(
        self, at: Placement, start: int, size: int, ttl: timedelta, claim: PartClaim | None = None
    ) -> RangeTicket:
        url = await self._storage.block_url(at, block_id(at.handle, part_number(at, start)), ttl)
        headers = {}
        if claim is not None and claim.md5 is not None:
            headers["content-md5"] = base64.b64encode(bytes.fromhex(claim.md5)).decode()
        return RangeTicket(start, size, url, headers, datetime.now(UTC) + ttl)

    async def stored_ranges(self, at: Placement) -> list[ByteRange]:
        """Blocks of this handle, staged or committed (after a reopen the old ones count)."""
        blob = await self._storage.blob_client(at.key)
        with _store_errors("listing an upload's blocks"):
            committed, staged = await blob.get_block_list("all")
        found = {}
        for block in [*committed, *staged]:  # a staged block replaces a committed one
            handle, _, number = block.id.rpartition("-")
            if handle == at.handle and number.isdigit():
                start = (int(number) - 1) * at.grid
                found[start] = ByteRange(start, block.size, tag=block.id)
        return list(found.values())
