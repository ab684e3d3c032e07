"""Storage backends, chosen by URL scheme from a fixed table."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from urllib.parse import urlparse

from ..domain.direct import DirectRanges
from ..domain.ports import RangeCopies, Storage, Tails
from .local import LocalStorage


def storage_from_url(url: str, *, fsync: bool) -> Storage:
    """`file:///abs/dir` or a plain path → local disk; `s3://bucket/prefix?…` → S3-compatible.

    `azure://container/prefix[?account_url=…]` → Azure Blob Storage (block blobs).

    S3 credentials come from the usual AWS settings (environment, ~/.aws, instance roles);
    Azure's from AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT + AZURE_STORAGE_KEY.
    """
    parsed = urlparse(url)
    if parsed.scheme in ("", "file"):
        path = parsed.path if parsed.scheme else url
        return LocalStorage(Path(path), fsync=fsync)
    if parsed.scheme == "s3":
        # Imported on demand: the AWS libraries cost ~20 MiB of memory a server on local disk
        # does not need.
        from .s3 import S3Location, S3Storage

        return S3Storage(S3Location.parse(url))
    if parsed.scheme == "azure":
        from .azure import AzureLocation, AzureStorage  # on demand, like the AWS libraries

        return AzureStorage(AzureLocation.parse(url, os.environ))
    raise ValueError(f"unsupported storage URL scheme {parsed.scheme!r} in {url!r}")


def direct_ranges(storage: Storage) -> DirectRanges | None:
    """The store's direct-ranges capability (clients PUT bytes straight into it), if it has one."""
    inner = getattr(storage, "_inner", storage)  # seen through InstrumentedStorage
    # A backend's module is loaded once a store of it exists: none is imported here for nothing.
    if f"{__name__}.s3" in sys.modules:
        from .s3 import S3Storage
        from .s3_direct import S3DirectRanges

        if isinstance(inner, S3Storage):
            return S3DirectRanges(inner)
    if f"{__name__}.azure" in sys.modules:
        from .azure import AzureStorage
        from .azure_direct import AzureDirectRanges

        if isinstance(inner, AzureStorage):
            return AzureDirectRanges(inner)
    return None


def tail_store(storage: Storage) -> Tails | None:
    """Where the store keeps the short tails of appended uploads, if it needs and has such a
    place (S3: ranges are whole parts; Azure has none yet, a local file needs none)."""
    inner = getattr(storage, "_inner", storage)  # seen through InstrumentedStorage
    if f"{__name__}.s3" in sys.modules:
        from .s3 import S3Storage
        from .s3_tails import S3Tails

        if isinstance(inner, S3Storage):
            return S3Tails(inner)
    return None


def range_copies(storage: Storage) -> RangeCopies | None:
    """The store's own copy of a range into an unfinished object, if any: S3's UploadPartCopy,
    the kernel's copy_file_range on local disk."""
    inner = getattr(storage, "_inner", storage)  # seen through InstrumentedStorage
    if isinstance(inner, LocalStorage):
        return inner
    if f"{__name__}.s3" in sys.modules:
        from .s3 import S3Storage
        from .s3_tails import S3RangeCopies

        if isinstance(inner, S3Storage):
            return S3RangeCopies(inner)
    return None
