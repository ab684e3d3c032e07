"""The store's own full-object CRC32C on S3 (issue #22), compared with the one partway combines
from the parts' CRC32Cs it verified as the bytes streamed in.

Where the store supports it, multipart uploads are created with `ChecksumAlgorithm=CRC32C` and
`ChecksumType=FULL_OBJECT`; the store then derives the object's CRC32C from the bytes it holds,
and finish compares it with partway's. Parts carry no checksum header: partway knows a part's
CRC32C only once its bytes have passed, a presigned URL cannot carry a trailing checksum
(aws-chunked needs a payload signature mode query auth does not have), and AWS computes the part
checksums of a FULL_OBJECT upload itself. The comparison covers every byte all the same.

Support is probed once per store (`checksums=auto` in the storage URL, the default): a tiny
upload made exactly as partway makes them (created with the checksum, a part without one,
completed) whose store CRC32C must be the known one. A store that ignores the headers (Ceph RGW
16.2), refuses a part without a checksum (MinIO) or reports none keeps today's uploads.
`checksums=off` skips the probe.
"""

from __future__ import annotations

import base64
import secrets
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from ..domain.assembly import combined_crc32c
from ..domain.crc import crc32c_of
from ..domain.errors import StoredChecksumMismatch
from ..domain.models import ByteRange
from ..wire import crc32c_base64

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

CHECKSUM_MODES = ("auto", "off")
FULL_OBJECT: dict[str, Any] = {"ChecksumAlgorithm": "CRC32C", "ChecksumType": "FULL_OBJECT"}
PROBE_BYTES = b"partway: does this store keep a full-object CRC32C?"
PROBE_INFIX = ".partway-checksum-probe."


def crc32c_of_b64(value: str | None) -> int | None:
    """A full-object CRC32C as S3 writes it; None for none or a composite (`…-N`)."""
    if not value or "-" in value:
        return None
    raw = base64.b64decode(value)
    return int.from_bytes(raw, "big") if len(raw) == 4 else None


async def stored_crc32c(
    s3: S3Client, bucket: str, key: str, completed: dict[str, Any]
) -> int | None:
    """The store's full-object CRC32C of a just-completed object: from CompleteMultipartUpload's
    answer (AWS), else from HeadObject with checksums asked for (moto reports it only there)."""
    found = crc32c_of_b64(completed.get("ChecksumCRC32C"))
    if found is not None:
        return found
    head = await s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    if head.get("ChecksumType") not in (None, "FULL_OBJECT"):
        return None
    return crc32c_of_b64(head.get("ChecksumCRC32C"))


async def check_full_object(
    s3: S3Client, bucket: str, key: str, ranges: list[ByteRange], completed: dict[str, Any]
) -> int | None:
    """The store's CRC32C of the object it just assembled; StoredChecksumMismatch if it is not
    partway's, combined from the parts'. Nothing to compare where partway has none (parts sent
    without a digest) or the store none (an upload begun before the store was found to keep
    them)."""
    ours = combined_crc32c(ranges)
    theirs = await stored_crc32c(s3, bucket, key, completed)
    if ours is not None and theirs is not None and theirs != ours:
        raise StoredChecksumMismatch(
            f"the store's CRC32C of the assembled file ({crc32c_base64(theirs)}) is not the "
            f"{crc32c_base64(ours)} of the parts partway received: the file was not created; "
            "send the parts again and finish"
        )
    return theirs


async def probe_full_object(s3: S3Client, bucket: str, prefix: str) -> bool:
    """Whether the store keeps a FULL_OBJECT CRC32C of uploads made as partway makes them."""
    key = prefix + PROBE_INFIX + secrets.token_hex(8)
    handle = ""
    try:
        created = await s3.create_multipart_upload(Bucket=bucket, Key=key, **FULL_OBJECT)
        handle = created["UploadId"]
        if created.get("ChecksumType") != "FULL_OBJECT":
            return False  # the store ignored the headers (RGW 16.2)
        part = await s3.upload_part(
            Bucket=bucket, Key=key, UploadId=handle, PartNumber=1, Body=PROBE_BYTES
        )
        completed = await s3.complete_multipart_upload(
            Bucket=bucket,
            Key=key,
            UploadId=handle,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
        )
        handle = ""
        found = await stored_crc32c(s3, bucket, key, dict(completed))
        return found == crc32c_of(PROBE_BYTES)
    except ClientError as exc:
        if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 400) >= 500:
            raise  # a store failing for now (503 SlowDown) says nothing of what it supports
        return False  # refused somewhere along the way: the store is used as before
    finally:
        await _clean_up(s3, bucket, key, handle)


async def _clean_up(s3: S3Client, bucket: str, key: str, handle: str) -> None:
    try:
        if handle:
            await s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=handle)
        await s3.delete_object(Bucket=bucket, Key=key)
    except (ClientError, BotoCoreError):
        pass  # a leftover probe object is a few bytes; the next probe uses a fresh name


class FullObjectChecksums:
    """Whether this store's uploads carry a full-object CRC32C: decided once, by the setting
    and the probe. Two probes racing on first use both reach the same answer; a probe that
    could not reach the store (or got a 5xx) raises and decides nothing."""

    def __init__(self, mode: str) -> None:
        if mode not in CHECKSUM_MODES:
            raise ValueError(f"checksums= takes one of {CHECKSUM_MODES}, not {mode!r}")
        self._supported: bool | None = None if mode == "auto" else False

    async def supported(self, s3: S3Client, bucket: str, prefix: str) -> bool:
        if self._supported is None:
            self._supported = await probe_full_object(s3, bucket, prefix)
        return self._supported

    def known(self) -> bool | None:
        """What was decided (None: not yet probed)."""
        return self._supported
