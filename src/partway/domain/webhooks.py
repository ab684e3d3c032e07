"""Webhook delivery rules: what an event looks like on the wire (Apideck's unified webhook
event), when a failed delivery is tried again, and the queue port the worker needs."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from .events import OutboxRecord

UNIFIED_API = "file-storage"

Wants = Callable[[str, str], bool]  # (kind, app_id) → whether an endpoint wants the event


@dataclass(frozen=True)
class Delivery:
    """One event on its way to one endpoint."""

    id: int
    endpoint: str
    attempts: int  # including the one about to be made
    deadline: datetime
    record: OutboxRecord


@dataclass(frozen=True)
class DeliveryRow:
    """A delivery as `partway webhooks list` shows it."""

    id: int
    endpoint: str
    outbox_id: int
    kind: str
    entity_id: str
    state: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    last_error: str | None


@dataclass(frozen=True)
class QueueStats:
    pending: int
    delivered: int
    dead: int
    oldest_pending: datetime | None


def entity_type_of(kind: str) -> str:
    """`upload_session.created` → `upload_session`."""
    return kind.rsplit(".", 1)[0]


def event_body(delivery: Delivery, default_service: str) -> dict[str, object]:
    """Apideck's unified webhook event for a durable event."""
    record = delivery.record
    service = record.payload.get("service_id")
    return {
        "payload": {
            "event_type": f"{UNIFIED_API}.{record.kind}",
            "unified_api": UNIFIED_API,
            "service_id": service if isinstance(service, str) else default_service,
            "consumer_id": record.tenant.consumer_id,
            "entity_id": record.entity_id,
            "entity_type": entity_type_of(record.kind),
            "execution_attempt": delivery.attempts,
            "occurred_at": record.occurred_at.isoformat().replace("+00:00", "Z"),
        }
    }


def message_id(record: OutboxRecord) -> str:
    """The same for every try of an event, so receivers can drop duplicates."""
    return f"msg_{record.id}"


@dataclass(frozen=True)
class Backoff:
    base: timedelta
    cap: timedelta
    jitter: Callable[[], float] = random.random  # in [0, 1)

    def delay(self, attempts: int) -> timedelta:
        """Exponential from `base`, capped; "full jitter" on the upper half so endpoints that
        come back are not hit by every instance's retries at once."""
        ceiling: timedelta = min(self.base * (2 ** max(attempts - 1, 0)), self.cap)
        return ceiling * (0.5 + 0.5 * self.jitter())


@dataclass(frozen=True)
class Outcome:
    """How a try of a delivery ended: delivered (no error), to retry at `retry_at`, or dead
    (an error and no retry time)."""

    delivery_id: int
    error: str | None = None
    retry_at: datetime | None = None


class DeliveryQueue(Protocol):
    """Deliveries in the metadata store; claims are exclusive across processes."""

    async def register(self, endpoints: Sequence[str]) -> int:
        """Start the cursors of new endpoints at the current end of the outbox; stop the
        pending deliveries of endpoints no longer configured (dead letters). How many stopped."""

    async def enqueue(
        self, wanted: Mapping[str, Wants], window: timedelta, now: datetime, limit: int
    ) -> int:
        """Turn outbox events after each endpoint's cursor into deliveries; how many."""

    async def turn(
        self, finished: Sequence[Outcome], now: datetime, lease: timedelta, slots: Mapping[str, int]
    ) -> list[Delivery]:
        """Settle the finished tries and claim up to `slots[endpoint]` due deliveries of each
        endpoint, in one write."""

    async def stats(self) -> QueueStats: ...

    async def prune(self, before: datetime) -> int:
        """Delete deliveries delivered before `before`; how many."""
