"""The metadata repository over SQLAlchemy Core: one class made of per-concern query sets."""

from __future__ import annotations

from .accounts import AccountQueries
from .entries import EntryQueries
from .outbox import OutboxQueries
from .sessions import SessionQueries


class SqlRepository(AccountQueries, SessionQueries, EntryQueries, OutboxQueries):
    """Implements domain.ports.Repository for SQLite and PostgreSQL."""
