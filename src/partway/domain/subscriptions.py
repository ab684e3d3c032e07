"""Webhook subscriptions (issue #21): an app's own endpoint, added and removed with the CLI
while servers run. Its deliveries share the queue with the operator's configured endpoints under
the name of the subscription's id, which is why configured names may not take that prefix."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

# Delivery and cursor rows of a subscription are named by its id, which starts with this.
PREFIX = "sub_"

# The kinds of the outbox a subscription may ask for (README, "Webhooks and blocking hooks").
EVENT_KINDS = frozenset(
    {
        "upload_session.created", "upload_session.aborted", "upload_session.expired",
        "file.created", "file.updated", "file.deleted",
        "folder.created", "folder.updated", "folder.deleted",
    }
)  # fmt: skip


def is_subscription(endpoint: str) -> bool:
    return endpoint.startswith(PREFIX)


@dataclass(frozen=True)
class Subscription:
    """A subscription as listed: never its secret."""

    id: str
    app_id: str
    url: str
    events: tuple[str, ...]  # empty: every kind
    created_at: datetime


@dataclass(frozen=True)
class SealedSubscription:
    """A subscription with its signing secret still encrypted, as the worker reads it."""

    subscription: Subscription
    sealed_secret: bytes
