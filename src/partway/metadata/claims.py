"""The checksums a direct session's client said its parts would hold (issue #20), kept from the
request that signed a part's URL to the finish that checks the store against them."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from ..domain.direct import PartClaim
from .base import SqlBase
from .schema import direct_claims


def _upsert(dialect: str) -> sa.Insert:
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(direct_claims)
    return insert.on_conflict_do_update(
        index_elements=["session_id", "start"],
        set_={"md5": insert.excluded.md5, "crc32c": insert.excluded.crc32c},
    )


_UPSERT = {name: _upsert(name) for name in ("postgresql", "sqlite")}


class ClaimQueries(SqlBase):
    async def claim_parts(self, session_id: str, claims: Sequence[PartClaim]) -> None:
        """Record (replacing earlier ones at the same starts) what the parts will hold."""
        rows = [
            {"session_id": session_id, "start": c.start, "md5": c.md5, "crc32c": c.crc32c}
            for c in claims
        ]

        def work(c: Connection) -> None:
            c.execute(_UPSERT[c.dialect.name], rows)

        if rows:
            await self._write(work)

    async def part_claims(self, session_id: str) -> dict[int, PartClaim]:
        query = sa.select(direct_claims).where(direct_claims.c.session_id == session_id)

        def work(c: Connection) -> dict[int, PartClaim]:
            return {r.start: PartClaim(r.start, r.md5, r.crc32c) for r in c.execute(query)}

        return await self._read(work)
