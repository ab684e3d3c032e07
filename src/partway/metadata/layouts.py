"""A session's size and part size set after create, for uploads whose client chose its parts
without saying so (Uppy's S3 plugin, domain/companion.py): taken from the store's parts at
complete, before partway records any range of the session."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..domain.models import SessionState
from .base import SqlBase
from .schema import ranges, sessions


class LayoutQueries(SqlBase):
    async def set_layout(self, session_id: str, size: int, part_size: int) -> bool:
        # Compare-and-set in one statement: ranges recorded on the old grid would be misplaced.
        recorded = sa.select(ranges.c.start).where(ranges.c.session_id == session_id).exists()
        query = (
            sessions.update()
            .where(
                sessions.c.id == session_id,
                sessions.c.state == SessionState.OPEN.value,
                ~recorded,
            )
            .values(size=size, part_size=part_size)
        )

        def work(c: Connection) -> bool:
            return bool(c.execute(query).rowcount == 1)

        return bool(await self._write(work))
