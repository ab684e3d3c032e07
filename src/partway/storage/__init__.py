"""Storage backends, chosen by URL scheme from a fixed table."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from ..domain.ports import Storage
from .local import LocalStorage


def storage_from_url(url: str, *, fsync: bool) -> Storage:
    """`file:///abs/dir` or a plain path → local disk."""
    parsed = urlparse(url)
    if parsed.scheme in ("", "file"):
        path = parsed.path if parsed.scheme else url
        return LocalStorage(Path(path), fsync=fsync)
    raise ValueError(f"unsupported storage URL scheme {parsed.scheme!r} in {url!r}")
