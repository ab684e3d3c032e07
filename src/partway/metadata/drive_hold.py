"""A write that puts an entry or an upload into a drive holds that drive for its transaction.

Deleting a drive counts what it holds and deletes it if nothing; a folder created (or an upload
begun or finished) in the drive at the same moment checked the drive before the delete and
inserted after it: 18 of 40 such races left a folder in a drive that no longer existed,
invisible and still counted (measured on SQLite). Now the write checks the drive in its own
transaction (SQLite has one writer at a time, so that is enough), and on PostgreSQL it holds
the drive's row FOR SHARE while the delete holds it FOR UPDATE: whichever comes second waits,
then sees what the first did.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..domain.errors import NotFound
from ..domain.models import DEFAULT_DRIVE_ID, Tenant
from .catalog import drives
from .rows import tenant_of


def _drive(tenant: Tenant, drive_id: str) -> sa.Select[tuple[str]]:
    return sa.select(drives.c.id).where(drives.c.id == drive_id, tenant_of(drives, tenant))


def hold_drive(c: Connection, tenant: Tenant, drive_id: str | None) -> None:
    """NotFound if the drive is gone; else it stays until this transaction ends."""
    if drive_id is None or drive_id == DEFAULT_DRIVE_ID:
        return  # the default drive has no row and is never deleted
    if c.execute(_drive(tenant, drive_id).with_for_update(read=True)).first() is None:
        raise NotFound(f"drive {drive_id!r} not found")


def lock_drive(c: Connection, tenant: Tenant, drive_id: str) -> None:
    """Before a drive is deleted: writes holding it finish first, later ones wait and fail."""
    c.execute(_drive(tenant, drive_id).with_for_update()).first()
