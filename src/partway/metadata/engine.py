"""Engine construction: SQLite gets WAL, a busy timeout, foreign keys and IMMEDIATE write
transactions; PostgreSQL is used as is."""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

WRITE = "partway_write"


BUSY_TIMEOUT_S = 30.0
# A pooled PostgreSQL connection idle this long is pinged before use (_ping_when_idle).
PING_AFTER_IDLE_S = 2.0


def _use_wal(cursor: Any) -> None:
    # WAL lets readers run beside the single writer; several server processes may share the file.
    # Switching a new file to WAL escalates a shared lock to an exclusive one, and SQLite answers
    # "locked" at once (no busy handler: it would deadlock) when two connections try together, so
    # the switch is retried here.
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            # An in-memory database answers "memory" and stays so; that is fine.
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        time.sleep(0.02)


def _sqlite_connect(durable: bool) -> Callable[[Any, Any], None]:
    def connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the driver, so _sqlite_begin decides how to begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
        _use_wal(cursor)
        # FULL: a commit (a recorded part, a finished file) survives power loss once answered.
        # NORMAL: still never corrupt, but the last commits before a power loss may be lost.
        cursor.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
        # A checkpoint fsyncs the database, which on ext4 stalls the page-cache writes of the
        # parts in flight (measured: 4 of 16 parts at 100 ms instead of 20); checkpoint every
        # 16 MiB of log instead of every 4 MiB.
        cursor.execute("PRAGMA wal_autocheckpoint=4000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return connect


def _sqlite_begin(conn: Connection) -> None:
    # A deferred transaction that reads and then writes can fail at once with SQLITE_BUSY when
    # another writer committed in between; IMMEDIATE waits for the write lock up front instead.
    mode = conn.get_execution_options().get(WRITE, True)
    if mode is not None:  # None: every statement is a transaction of its own (autocommit)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if mode else "BEGIN")


def advisory_key(name: str) -> int:
    """A PostgreSQL advisory-lock key (signed 64-bit) for a name; collisions only cost waiting."""
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def libpq_url(url: str) -> str:
    """The URL as libpq takes it, without SQLAlchemy's driver suffix."""
    return "postgresql://" + url.split("://", 1)[1]


def _ping_when_idle(engine: Engine, after_s: float) -> None:
    """Ping a pooled connection before use only if it sat idle `after_s` seconds or more; a
    dead one is then replaced (the pool's documented DisconnectionError). Pinging at every
    checkout (pool_pre_ping) was a round trip per transaction: ~7 more beside the 8 statements
    of each part, for a connection that had answered milliseconds before. A connection that dies
    within the window fails its next statement once, and the pool then reconnects."""

    @sa.event.listens_for(engine, "checkin")
    def checkin(dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @sa.event.listens_for(engine, "checkout")
    def checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        since = record.info.pop("idle_since", None)
        if since is None or time.monotonic() - since < after_s:
            return  # new, or used a moment ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            raise sa.exc.DisconnectionError(f"a pooled connection died: {exc}") from exc


def make_engine(url: str, durable: bool = True, ping_after_s: float = PING_AFTER_IDLE_S) -> Engine:
    """`durable`: whether an answered commit must survive power loss (follows `fsync`);
    `ping_after_s`: how long a PostgreSQL connection may sit idle before it is pinged."""
    if url.startswith("sqlite"):
        database = sa.engine.make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(
            url, connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_S}
        )
        sa.event.listen(engine, "connect", _sqlite_connect(durable))
        sa.event.listen(engine, "begin", _sqlite_begin)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    engine = sa.create_engine(url, pool_size=20, max_overflow=20)
    _ping_when_idle(engine, ping_after_s)
    return engine
