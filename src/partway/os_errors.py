"""OS errors that mean something to a client: a full disk is a 507, not a 500."""

from __future__ import annotations

import errno

from .domain.errors import InsufficientStorage


def full_disk_as_domain(exc: OSError, what: str) -> Exception:
    """`exc` as InsufficientStorage when the disk (or a quota) is full, else unchanged."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return InsufficientStorage(f"storage is full while {what}; free space and retry")
    return exc
