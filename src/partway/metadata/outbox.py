"""The outbox in SQL: durable events written inside the transaction of their change."""

from __future__ import annotations

import json
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..domain.events import Event, OutboxRecord, entity_of
from ..domain.models import Tenant
from .base import SqlBase
from .schema import outbox

OUTBOX_ORDER_LOCK = 0x6F7574626F78  # "outbox"


def outbox_values(event: Event) -> dict[str, object]:
    """The row of a durable event (its kind, entity, tenant, time and JSON payload)."""
    if event.outbox_kind is None:
        raise ValueError(f"{type(event).__name__} is not a durable event")
    fields = event.fields()
    return {
        "kind": event.outbox_kind,
        "entity_id": entity_of(event),
        "app_id": fields["app_id"],
        "consumer_id": fields["consumer_id"],
        "occurred_at": getattr(event, "at"),  # noqa: B009 - every durable event has one
        "payload": json.dumps(fields, default=str, sort_keys=True),
    }


def write_outbox(c: Connection, events: Sequence[Event]) -> None:
    """Called by a repository method inside its transaction, after its own statements."""
    if not events:
        return
    if c.dialect.name == "postgresql":
        # Ids come from a sequence, and two transactions may commit out of id order: a reader
        # that has seen id 10 would then never see 9. Held until commit (the outbox insert is a
        # transaction's last statement), this lock makes commit order the id order.
        c.execute(sa.select(sa.func.pg_advisory_xact_lock(OUTBOX_ORDER_LOCK)))
    c.execute(outbox.insert(), [outbox_values(e) for e in events])


class OutboxQueries(SqlBase):
    async def outbox_after(self, after: int, limit: int) -> list[OutboxRecord]:
        query = sa.select(outbox).where(outbox.c.id > after).order_by(outbox.c.id).limit(limit)

        def work(c: Connection) -> list[OutboxRecord]:
            return [
                OutboxRecord(
                    r.id,
                    r.kind,
                    r.entity_id,
                    Tenant(r.app_id, r.consumer_id),
                    r.occurred_at,
                    json.loads(r.payload),
                )
                for r in c.execute(query)
            ]

        return await self._read(work)
