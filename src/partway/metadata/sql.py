"""The metadata repository over SQLAlchemy Core: one class made of per-concern query sets."""

from __future__ import annotations

from .accounts import AccountQueries
from .copies import CopyQueries
from .drives import DriveQueries
from .entries import EntryQueries
from .links import LinkQueries
from .search import SearchQueries
from .sessions import SessionQueries


class SqlRepository(
    AccountQueries,
    SessionQueries,
    EntryQueries,
    DriveQueries,
    LinkQueries,
    SearchQueries,
    CopyQueries,
):
    """Implements domain.ports.Repository (and the drive, link, search and folder-copy
    repositories of issue #18) for SQLite and PostgreSQL."""
