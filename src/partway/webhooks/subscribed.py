"""The subscriptions a server delivers to, read again every few seconds so that `partway
webhooks subscribe` and `unsubscribe` take effect without a restart. Each becomes an endpoint
like a configured one, limited to its app; its secret is opened here and kept only in memory."""

from __future__ import annotations

import logging
import time

from ..endpoints import WebhookEndpoint
from ..metadata.subscriptions import SqlSubscriptions
from .sealing import Sealer, UnreadableSecret

log = logging.getLogger("partway.webhooks")

# How stale a server's view may be. Nothing is lost meanwhile: a new subscription's cursor is
# made by the CLI, so its events wait in the outbox; a removed one's cursor is gone at once.
REFRESH_SECONDS = 2.0


class Subscribed:
    def __init__(self, store: SqlSubscriptions, sealer: Sealer) -> None:
        self._store = store
        self._sealer = sealer
        self._endpoints: dict[str, WebhookEndpoint] = {}
        self._due = 0.0
        self._unreadable: set[str] = set()  # logged once each, not every refresh

    async def current(self) -> dict[str, WebhookEndpoint]:
        if time.monotonic() >= self._due:
            self._endpoints = await self._load()
            self._due = time.monotonic() + REFRESH_SECONDS
        return self._endpoints

    async def _load(self) -> dict[str, WebhookEndpoint]:
        endpoints = {}
        for row in await self._store.sealed():
            sub = row.subscription
            try:
                secret = self._sealer.open(row.sealed_secret, sub.id)
            except UnreadableSecret:
                if sub.id not in self._unreadable:
                    self._unreadable.add(sub.id)
                    log.error(
                        "subscription %s: its secret does not open with this data dir's "
                        "webhook-secrets.key (servers and the CLI must share it); not delivered",
                        sub.id,
                    )
                continue
            endpoints[sub.id] = WebhookEndpoint(
                url=sub.url, secret=secret, events=list(sub.events), app_ids=[sub.app_id]
            )
        return endpoints
