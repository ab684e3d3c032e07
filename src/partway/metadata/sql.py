"""The metadata repository over SQLAlchemy Core: one class made of per-concern query sets."""

from __future__ import annotations

from .accounts import AccountQueries
from .drives import DriveQueries
from .entries import EntryQueries
from .links import LinkQueries
from .search import SearchQueries
from .sessions import SessionQueries


class SqlRepository(
    AccountQueries, SessionQueries, EntryQueries, DriveQueries, LinkQueries, SearchQueries
):
    """Implements domain.ports.Repository (and the drive, link and search repositories of
    issue #18) for SQLite and PostgreSQL."""
