"""PostgreSQL connections in the pool are pinged only after sitting idle (metadata/engine.py):
a ping per checkout was a round trip per transaction on the hot path of every part."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from partway.metadata.engine import make_engine

from ..backends import drop_database, new_database


@pytest.fixture
def url() -> Iterator[str]:
    made = new_database()
    yield made
    drop_database(made)


def backend_of(engine: Engine) -> int:
    with engine.connect() as conn:
        pid: int = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
    return pid


def kill(url: str, pid: int) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(%s)", (pid,))


def test_an_idle_connection_that_died_is_replaced_before_use(url: str) -> None:
    engine = make_engine(url, ping_after_s=0.0)
    try:
        first = backend_of(engine)
        kill(url, first)
        # Pinged on checkout, found dead and replaced: the statement never sees it.
        assert backend_of(engine) != first
    finally:
        engine.dispose()


def test_a_connection_used_a_moment_ago_is_not_pinged(url: str) -> None:
    """The trade-off, shown: a connection that dies inside the window fails one statement,
    then the pool reconnects."""
    engine = make_engine(url, ping_after_s=3600.0)
    try:
        first = backend_of(engine)
        assert backend_of(engine) == first  # reused, as a pinged one would be too
        kill(url, first)
        with pytest.raises(sa.exc.OperationalError):
            backend_of(engine)
        assert backend_of(engine) != first
    finally:
        engine.dispose()
