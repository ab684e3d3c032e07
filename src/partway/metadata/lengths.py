"""A length stated after create (tus `Upload-Defer-Length`, a draft `Upload-Length` on a later
append): kept with the session, once, so later requests and a restarted server know it."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..domain.models import SessionState, Tenant
from . import usage
from .base import SqlBase
from .schema import sessions

# Only an open session without a size: two requests stating one cannot both win.
_DECLARE = (
    sessions.update()
    .where(
        sessions.c.id == sa.bindparam("sid"),
        sessions.c.state == SessionState.OPEN.value,
        sessions.c.size.is_(None),
    )
    .values(size=sa.bindparam("size"), updated_at=sa.bindparam("now"))
    .returning(sessions.c.app_id, sessions.c.consumer_id)
)


class LengthQueries(SqlBase):
    async def declare_size(self, session_id: str, size: int, now: datetime) -> bool:
        def work(c: Connection) -> bool:
            # Read before the update: what the session reserves while its size is unknown.
            held = usage.reserved_by(c, session_id, None)
            won = c.execute(_DECLARE, {"sid": session_id, "size": size, "now": now}).first()
            if won is None:
                return False
            # From now on it reserves its whole size, as a session created with one does.
            usage.adjust(c, Tenant(won.app_id, won.consumer_id), reserved=size - held)
            return True

        return await self._write(work, small=True)
