"""The metadata repository over SQLAlchemy Core: one class made of per-concern query sets."""

from __future__ import annotations

from .accounts import AccountQueries
from .entries import EntryQueries
from .sessions import SessionQueries


class SqlRepository(AccountQueries, SessionQueries, EntryQueries):
    """Implements domain.ports.Repository for SQLite and PostgreSQL."""
