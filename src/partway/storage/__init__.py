"""Storage backends, chosen by URL scheme from a fixed table."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from ..domain.ports import Storage
from .local import LocalStorage


def storage_from_url(url: str, *, fsync: bool) -> Storage:
    """`file:///abs/dir` or a plain path → local disk; `s3://bucket/prefix?…` → S3-compatible.

    S3 credentials come from the usual AWS settings (environment, ~/.aws, instance roles).
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
    raise ValueError(f"unsupported storage URL scheme {parsed.scheme!r} in {url!r}")
