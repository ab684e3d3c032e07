"""The metadata repository over SQLAlchemy Core: one class made of per-concern query sets."""

from __future__ import annotations

from .accounts import AccountQueries
from .claims import ClaimQueries
from .copies import CopyQueries
from .drives import DriveQueries
from .entries import EntryQueries
from .layouts import LayoutQueries
from .lengths import LengthQueries
from .links import LinkQueries
from .outbox import OutboxQueries
from .search import SearchQueries
from .sessions import SessionQueries


class SqlRepository(
    AccountQueries,
    SessionQueries,
    LengthQueries,
    EntryQueries,
    OutboxQueries,
    DriveQueries,
    LinkQueries,
    SearchQueries,
    CopyQueries,
    ClaimQueries,
    LayoutQueries,
):
    """The metadata repository for SQLite and PostgreSQL: every repository protocol of
    domain/repositories.py, and the drive, link, search and folder-copy ones of issue #18."""
