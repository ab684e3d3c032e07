"""The webhook worker of a server: moves outbox events into deliveries, claims due ones, posts
them signed, and settles each (delivered, retry later, dead letter). Requests never wait for it:
it runs as a background task with its own bounded concurrency and timeouts.

Tries run as tasks, up to `concurrency` per endpoint, so a slow or dead endpoint holds only its
own slots. The loop does not wait for a whole batch: whenever tries end it settles them and
claims as many due deliveries as slots are free, both in one write (`DeliveryQueue.turn`).

Its endpoints are the configured ones and the apps' subscriptions (subscribed.py), re-read every
few seconds; a subscription's address is checked before every try (addresses.py)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping
from datetime import datetime, timedelta

import httpx
from prometheus_client import CollectorRegistry, Counter, Gauge

from ..config import Settings
from ..domain.ports import Clock
from ..domain.subscriptions import is_subscription
from ..domain.webhooks import (
    Backoff,
    Delivery,
    DeliveryQueue,
    Outcome,
    Wants,
    event_body,
    message_id,
)
from ..endpoints import WebhookEndpoint
from ..metadata.deliveries import SqlDeliveries
from ..metadata.subscriptions import SqlSubscriptions
from .addresses import RefusedUrl, UrlPolicy, check_for_delivery
from .sealing import Sealer
from .signing import signed_headers
from .subscribed import Subscribed

log = logging.getLogger("partway.webhooks")

ENQUEUE_BATCH = 500
# The queue's gauges need a count over the table: refreshed this often, not every round.
STATS_SECONDS = 10.0
# Delivered rows are kept this long (for `partway webhooks list`), then deleted.
KEEP_DELIVERED = timedelta(days=7)


class WebhookMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.queued = Gauge(
            "partway_webhooks_queued", "Deliveries pending (to try or retry)", registry=registry
        )
        self.dead = Gauge("partway_webhooks_dead", "Dead-lettered deliveries", registry=registry)
        self.oldest = Gauge(
            "partway_webhooks_oldest_pending_seconds",
            "Age of the oldest pending delivery",
            registry=registry,
        )
        self.delivered = Counter(
            "partway_webhooks_delivered", "Deliveries the endpoint accepted", registry=registry
        )
        self.failed = Counter(
            "partway_webhooks_failed", "Delivery attempts that failed", ["endpoint"],
            registry=registry,
        )  # fmt: skip


def wanted_by(endpoints: Mapping[str, WebhookEndpoint]) -> dict[str, Wants]:
    return {name: endpoint.wants for name, endpoint in endpoints.items()}


class WebhookWorker:
    def __init__(
        self,
        queue: DeliveryQueue,
        endpoints: Mapping[str, WebhookEndpoint],
        *,
        clock: Clock,
        backoff: Backoff,
        window: timedelta,
        timeout: float,
        concurrency: int,
        default_service: str,
        metrics: WebhookMetrics,
        transport: httpx.AsyncBaseTransport | None = None,
        subscribed: Subscribed | None = None,
        policy: UrlPolicy | None = None,
    ) -> None:
        self._queue = queue
        self._configured = dict(endpoints)
        self._endpoints = dict(endpoints)  # the configured ones and the current subscriptions
        self._subscribed = subscribed
        self._policy = policy or UrlPolicy.parse(["https"], [])
        self._clock = clock
        self._backoff = backoff
        self._window = window
        self._timeout = timeout
        self._concurrency = concurrency
        self._default_service = default_service
        self._metrics = metrics
        # A lease outlives the slowest try, so no other server takes a delivery being made.
        self._lease = timedelta(seconds=2 * timeout + 5)
        self._stats_due = 0.0
        self._flying: dict[asyncio.Task[None], str] = {}  # tries in flight → their endpoint
        self._finished: list[Outcome] = []  # tries ended, to settle at the next turn
        # The transport itself, not a client over it: a try needs no cookies, auth flow or
        # redirects (one could point anywhere: never followed), and the client's layers were
        # ~20 % of the CPU of a delivery (py-spy).
        # No cap on the pool: tries are already capped per endpoint, and subscriptions come
        # and go while it lives.
        self._transport = transport or httpx.AsyncHTTPTransport(
            limits=httpx.Limits(max_connections=None)
        )
        self._timeouts = httpx.Timeout(timeout).as_dict()

    async def start(self) -> None:
        """Before the server takes requests: new endpoints start at the end of the outbox (an
        event written before this would otherwise be skipped), removed ones are stopped."""
        stopped = await self._queue.register(list(self._endpoints))
        if stopped:
            log.warning("%d pending webhook deliveries stopped: endpoint removed", stopped)

    async def run_once(self) -> int:
        """One turn: enqueue new events, settle tries that ended, start due ones as slots
        allow. Returns how many tries were settled or started."""
        now = self._clock()
        if self._subscribed is not None:
            self._endpoints = {**self._configured, **await self._subscribed.current()}
        await self._queue.enqueue(wanted_by(self._endpoints), self._window, now, ENQUEUE_BATCH)
        finished = list(self._finished)
        slots = dict.fromkeys(self._endpoints, self._concurrency)
        for name in self._flying.values():
            if name in slots:  # not a subscription removed since
                slots[name] -= 1
        due = await self._queue.turn(finished, now, self._lease, slots)
        # Settled: kept until then, so a failed turn settles them the next time.
        del self._finished[: len(finished)]
        for delivery in due:
            endpoint = self._endpoints[delivery.endpoint]  # claimed: one of the current ones
            task = asyncio.create_task(self._deliver(delivery, endpoint))
            self._flying[task] = delivery.endpoint
            task.add_done_callback(self._landed)
        if time.monotonic() >= self._stats_due:
            self._stats_due = time.monotonic() + STATS_SECONDS
            await self._queue.prune(now - KEEP_DELIVERED)
            await self.refresh_metrics()
        return len(due) + len(finished)

    def _landed(self, task: asyncio.Task[None]) -> None:
        self._flying.pop(task, None)

    async def run_forever(self, poll: float) -> None:
        """Busy turns follow each other at once; otherwise the loop waits up to `poll` seconds,
        less if a try in flight ends."""
        while True:
            try:
                progressed = await self.run_once()
            except Exception:
                log.exception("webhook delivery turn failed; trying again in %.1fs", poll)
                await asyncio.sleep(poll)  # not at once: the database may be down a while
                continue
            if progressed or self._finished:  # tries that ended during the turn: settle now
                continue
            if self._flying:
                await asyncio.wait(
                    list(self._flying), timeout=poll, return_when=asyncio.FIRST_COMPLETED
                )
            else:
                await asyncio.sleep(poll)

    async def refresh_metrics(self) -> None:
        stats = await self._queue.stats()
        self._metrics.queued.set(stats.pending)
        self._metrics.dead.set(stats.dead)
        age = 0.0
        if stats.oldest_pending is not None:
            age = max((self._clock() - stats.oldest_pending).total_seconds(), 0.0)
        self._metrics.oldest.set(age)

    async def _deliver(self, delivery: Delivery, endpoint: WebhookEndpoint) -> None:
        try:
            error = await self._post(endpoint, delivery)
        except Exception as exc:  # a bug: still settled, not left claimed until its lease ends
            log.exception("webhook %s to %s failed", delivery.record.id, delivery.endpoint)
            error = f"{type(exc).__name__}: {exc}"[:500]
        if error is None:
            self._finished.append(Outcome(delivery.id))
            self._metrics.delivered.inc()
        else:
            self._metrics.failed.labels(delivery.endpoint).inc()
            self._finished.append(self._failure(delivery, error))

    async def _post(self, endpoint: WebhookEndpoint, delivery: Delivery) -> str | None:
        body = json.dumps(event_body(delivery, self._default_service)).encode()
        headers = signed_headers(endpoint.secret, message_id(delivery.record), body)
        url = httpx.URL(endpoint.url)
        extensions: dict[str, object] = {"timeout": self._timeouts}
        if is_subscription(delivery.endpoint):
            # A tenant's URL: connect to the address checked now, not to a second lookup
            # that could answer otherwise; the host still names the site (Host, TLS SNI and
            # certificate check).
            try:
                address = await check_for_delivery(self._policy, endpoint.url)
            except RefusedUrl as exc:
                return f"refused: {exc}"
            headers["host"] = url.netloc.decode("ascii")
            extensions["sni_hostname"] = url.host
            url = url.copy_with(host=str(address))
        request = httpx.Request("POST", url, content=body, headers=headers, extensions=extensions)
        try:
            response = await self._transport.handle_async_request(request)
            try:
                await response.aread()  # the connection goes back to the pool for the next try
            finally:
                await response.aclose()
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"[:500]
        if 200 <= response.status_code < 300:
            return None
        return f"HTTP {response.status_code}"

    def _failure(self, delivery: Delivery, error: str) -> Outcome:
        retry_at: datetime | None = self._clock() + self._backoff.delay(delivery.attempts)
        if retry_at is not None and retry_at > delivery.deadline:
            retry_at = None  # that was the last try: a dead letter
            log.warning(
                "webhook %s to %s dead after %d tries: %s",
                delivery.record.id, delivery.endpoint, delivery.attempts, error,
            )  # fmt: skip
        return Outcome(delivery.id, error, retry_at)

    async def close(self) -> None:
        """Tries in flight are dropped: their leases run out and they are made again."""
        for task in list(self._flying):
            task.cancel()
        await asyncio.gather(*self._flying, return_exceptions=True)
        await self._transport.aclose()


def build_worker(
    settings: Settings, queue: SqlDeliveries, clock: Clock, registry: CollectorRegistry,
    subscriptions: SqlSubscriptions, transport: httpx.AsyncBaseTransport | None = None,
) -> WebhookWorker:  # fmt: skip
    subscribed = Subscribed(subscriptions, Sealer.of_data_dir(settings.data_dir))
    return WebhookWorker(
        queue,
        settings.webhooks,
        clock=clock,
        backoff=Backoff(
            timedelta(seconds=settings.webhook_backoff_base_seconds),
            timedelta(seconds=settings.webhook_backoff_max_seconds),
        ),
        window=timedelta(seconds=settings.webhook_retry_window_seconds),
        timeout=settings.webhook_timeout_seconds,
        concurrency=settings.webhook_concurrency,
        default_service=settings.default_service,
        metrics=WebhookMetrics(registry),
        transport=transport,
        subscribed=subscribed,
        policy=settings.url_policy(),
    )
