"""Webhook subscriptions in SQL, on SQLite and PostgreSQL: a subscription's cursor is made with
it at the end of the outbox; removing it stops its pending deliveries and a server that has not
seen the removal yet makes no more; a server's start leaves subscriptions' deliveries alone."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import gc
from pathlib import Path

import httpx
from prometheus_client import CollectorRegistry
from sqlalchemy.engine import Engine
from standardwebhooks.webhooks import Webhook

from partway.config import load_settings
from partway.domain.subscriptions import Subscription
from partway.metadata import migrate
from partway.metadata.deliveries import SqlDeliveries
from partway.metadata.engine import make_engine
from partway.metadata.subscriptions import UNSUBSCRIBED, SqlSubscriptions
from partway.webhooks.sealing import Sealer
from partway.webhooks.worker import build_worker

from .test_deliveries import NOW, WINDOW, add_events, engine, everything

__all__ = ["engine"]  # the fixture, parametrized over both databases

SUB = Subscription("sub_1", "app", "https://hooks.example.com/x", ("file.created",), NOW)


def test_a_subscription_starts_at_the_end_and_stops_when_removed(engine: Engine) -> None:
    queue, store = SqlDeliveries(engine), SqlSubscriptions(engine)

    async def scenario() -> None:
        add_events(engine, "f1")  # before the subscription: not its business
        await store.add(SUB, b"sealed")
        add_events(engine, "f2", "f3")
        assert await queue.enqueue({SUB.id: everything}, WINDOW, NOW, 100) == 2
        # A server starting with other configured endpoints does not stop a subscription.
        assert await queue.register(["main"]) == 0
        assert await store.remove(SUB.id) == 2
        dead = await queue.listing("dead", 10)
        assert {(r.endpoint, r.entity_id, r.last_error) for r in dead} == {
            (SUB.id, "f2", UNSUBSCRIBED),
            (SUB.id, "f3", UNSUBSCRIBED),
        }
        # A server that still believes in the subscription makes no delivery for it.
        add_events(engine, "f4")
        assert await queue.enqueue({SUB.id: everything}, WINDOW, NOW, 100) == 0
        assert await store.remove(SUB.id) is None
        assert await store.listing() == []

    try:
        asyncio.run(scenario())
    finally:
        queue.close()
        store.close()


def test_listing_never_carries_the_sealed_secret(engine: Engine) -> None:
    store = SqlSubscriptions(engine)

    async def scenario() -> None:
        await store.add(SUB, b"sealed-bytes")
        other = Subscription("sub_2", "other", "https://x.example.com", (), NOW)
        await store.add(other, b"more")
        assert await store.listing("app") == [SUB]
        assert [s.sealed_secret for s in await store.sealed()] == [b"sealed-bytes", b"more"]

    try:
        asyncio.run(scenario())
    finally:
        store.close()


def test_a_try_connects_to_the_checked_address_naming_the_host(tmp_path: Path) -> None:
    """The worker resolves and checks the subscription's host, then connects to that address
    (no second lookup a rebinding DNS could answer otherwise) with the host in Host and SNI."""
    settings = load_settings(
        None, data_dir=tmp_path, webhook_allowed_hosts=["localhost", "127.0.0.0/8", "::1"]
    )
    engine = make_engine(settings.metadata_url())
    migrate.upgrade(engine)
    queue, store = SqlDeliveries(engine), SqlSubscriptions(engine)
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    secret = "whsec_" + base64.b64encode(b"k" * 32).decode()
    subscription = dataclasses.replace(SUB, url="https://localhost:8443/in", events=())
    sealed = Sealer.of_data_dir(tmp_path).seal(secret, subscription.id)
    worker = build_worker(
        settings, queue, lambda: NOW, CollectorRegistry(), store, httpx.MockTransport(answer)
    )

    async def scenario() -> None:
        await store.add(subscription, sealed)
        add_events(engine, "f1")
        await worker.start()
        for _ in range(50):
            await worker.run_once()
            if seen:
                break
            await asyncio.sleep(0.02)
        await worker.close()

    try:
        asyncio.run(scenario())
    finally:
        queue.close()
        store.close()
        engine.dispose()
    assert len(seen) == 1
    request = seen[0]
    assert request.url.host in ("127.0.0.1", "::1") and request.url.port == 8443
    assert request.headers["host"] == "localhost:8443"
    assert request.extensions["sni_hostname"] == "localhost"
    body = Webhook(secret).verify(request.content, dict(request.headers))
    assert isinstance(body, dict) and body["payload"]["entity_id"] == "f1"


def test_idle_turns_leave_no_reference_cycles(engine: Engine, tmp_path: Path) -> None:
    """The worker polls every second whatever the load: what its statements allocate must be
    freed as each turn ends, not left in cycles for the collector, whose passes stop every
    thread (runtime.py). Built per turn, the due-deliveries query (its alias's columns) and the
    outbox check's IN left ~165 objects a turn in cycles: 8,250 in these 50 turns."""
    settings = load_settings(None, data_dir=tmp_path)
    queue, store = SqlDeliveries(engine), SqlSubscriptions(engine)
    worker = build_worker(settings, queue, lambda: NOW, CollectorRegistry(), store)

    async def turns(count: int) -> None:
        for _ in range(count):
            await worker.run_once()
            await worker.refresh_metrics()
            await queue.prune(NOW)

    async def scenario() -> int:
        secret = "whsec_" + base64.b64encode(b"k" * 32).decode()
        sealed = Sealer.of_data_dir(tmp_path).seal(secret, SUB.id)
        await store.add(SUB, sealed)  # one subscriber, with nothing to deliver
        await worker.start()
        await turns(3)  # caches filled: compiled statements, pooled connections
        gc.collect()
        gc.disable()
        try:
            await turns(50)
            return gc.collect()
        finally:
            gc.enable()
            await worker.close()

    try:
        collected = asyncio.run(scenario())
    finally:
        queue.close()
        store.close()
    assert collected <= 10, collected
