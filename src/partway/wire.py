"""Header names and small formats of the Apideck wire protocol, shared by server and client."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datetime import datetime

APP_ID = "x-apideck-app-id"
CONSUMER_ID = "x-apideck-consumer-id"
SERVICE_ID = "x-apideck-service-id"
METADATA = "x-apideck-metadata"
FOLLOW_REDIRECTS = "x-apideck-follow-redirects"
DIGEST = "digest"
REQUEST_ID = "request-id"
IDEMPOTENCY_KEY = "idempotency-key"

SESSIONS_PATH = "/file-storage/upload-sessions"
FILES_PATH = "/file-storage/files"
FOLDERS_PATH = "/file-storage/folders"
DRIVES_PATH = "/file-storage/drives"
DRIVE_GROUPS_PATH = "/file-storage/drive-groups"
SHARED_LINKS_PATH = "/file-storage/shared-links"

# The largest `limit` of a listing (files in a folder, upload sessions).
MAX_PAGE = 200

APIDECK_HOSTS = ("upload.apideck.com", "unify.apideck.com")


def format_time(moment: datetime) -> str:
    """`2022-09-30T07:43:32.000Z`, the format of the spec's examples."""
    from datetime import UTC  # not at the top: `partway upload` starts without datetime

    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def sha1_digest_header(sha1: bytes) -> str:
    """The `digest` header value (RFC 3230) for a SHA-1: `sha=<base64>`."""
    return "sha=" + base64.b64encode(sha1).decode()


# partway's own extension: a preferred part size, honoured within the server's limits.
PART_SIZE_HINT = "x-partway-part-size-hint"

# partway's own extension on create: `direct` (the client PUTs parts straight into the store,
# over URLs the session's GET hands out; refused where the store cannot take them), `proxied`
# (through partway, as Apideck's API does) or `auto` (direct wherever the store can, and on
# services whose default is direct); without it, the service's default
# (PARTWAY_DIRECT_SERVICES). A header, not a body field: the create body is
# `additionalProperties: false`, and every Apideck SDK can add a header.
UPLOAD_MODE = "x-partway-upload-mode"
UPLOAD_MODES = ("direct", "proxied", "auto")


# RFC 3230's Want-Digest: the server's preference among the digests it takes, fastest first.
WANT_DIGEST = "want-digest"


def want_digest(algorithms: tuple[str, ...]) -> str:
    """`crc32c;q=1, sha;q=0.9, ...`: descending q-values in the order given."""
    weights = ["1", *(f"0.{9 - i}" for i in range(8))]
    return ", ".join(f"{name};q={q}" for name, q in zip(algorithms, weights, strict=False))


def crc32c_base64(crc: int) -> str:
    """A CRC32C as S3 and GCS write it: base64 of its 4 big-endian bytes."""
    return base64.b64encode(crc.to_bytes(4, "big")).decode()


def crc32c_digest_header(crc: int) -> str:
    """The `digest` header value for a CRC32C: `crc32c=<base64>`."""
    return "crc32c=" + crc32c_base64(crc)
