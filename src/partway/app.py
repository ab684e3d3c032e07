"""Composition root of the server: the core's services (services.py) → HTTP routes, the edge."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import resource
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry
from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import ClientDisconnect
from starlette.responses import RedirectResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from . import fair_share
from .config import Settings
from .domain.errors import DomainError
from .domain.ports import Clock
from .http import (
    copies,
    direct,
    drives,
    errors,
    exports,
    files,
    folders,
    form_uploads,
    links,
    openapi,
    ops,
    resumable,
    s3_companion,
    search,
    sessions,
    signed,
    signed_parts,
    supersede,
    tus_wire,
)
from .http.observe import Observe
from .http.pump import BodyPump, pace_for
from .http.server import Edge, EdgeLimits
from .http.text_guard import RefuseNul
from .metadata.deliveries import SqlDeliveries
from .metadata.subscriptions import SqlSubscriptions
from .metrics import Metrics
from .services import ServerServices, build_services, metadata_engine, open_metadata, utc_now
from .threads import DISK, OTHER_THREADS, SQL, Threads
from .webhooks.worker import WebhookWorker, build_worker

__all__ = ["build_services", "create_app", "metadata_engine", "open_metadata", "utc_now"]

log = logging.getLogger("partway")

GAUGE_REFRESH_SECONDS = 15.0
MAX_DEFAULT_CONNECTIONS = 20_000
WEB_DIR = Path(__file__).parent / "web"


async def every(interval: float, what: str, work: Any) -> None:
    """Run `work()` forever, `interval` seconds apart; failures are logged, never fatal."""
    while True:
        try:
            await work()
        except Exception:
            log.exception("%s failed; trying again in %.0fs", what, interval)
        await asyncio.sleep(interval)


def open_file_limit() -> int:
    """Raise this process's open-file soft limit to the hard limit; returns the new limit.
    Every connection, socket body and part file costs a descriptor."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = max(soft, 1 << 20)
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
    return soft


def connection_cap(settings: Settings, file_limit: int) -> int:
    """Connections a server accepts: the setting, or what the file limit allows with room for
    a body in flight (a descriptor of its own, its file, its lock) on half of them."""
    if settings.max_connections is not None:
        return settings.max_connections
    return max(64, min(MAX_DEFAULT_CONNECTIONS, (file_limit - 256) // 3))


def build_edge(settings: Settings, metrics: Metrics, file_limit: int) -> Edge:
    """The HTTP edge's limits and body pump (started by the caller)."""
    limits = EdgeLimits(
        max_header_bytes=settings.max_header_bytes,
        max_header_count=settings.max_header_count,
        header_timeout=settings.header_timeout_seconds,
        send_timeout=settings.body_timeout_seconds,
        max_connections=connection_cap(settings, file_limit),
        busy_keepalive_timeout=settings.busy_keepalive_timeout_seconds,
        pace=pace_for(settings),
    )
    pump = BodyPump(settings.body_threads)
    metrics.bodies.labels("waiting").set_function(lambda: pump.stats.waiting)
    metrics.bodies.labels("moving").set_function(lambda: pump.stats.moving)
    metrics.bodies.labels("queued").set_function(lambda: pump.queued)
    metrics.pool.labels("body", "threads").set(settings.body_threads)
    metrics.pool.labels("body", "busy").set_function(lambda: pump.stats.moving)
    metrics.pool.labels("body", "queued").set_function(lambda: pump.queued)
    return Edge(limits, pump, metrics)


async def start_webhooks(
    settings: Settings,
    engine: Engine,
    clock: Clock,
    registry: CollectorRegistry,
    background: list[asyncio.Task[None]],
) -> WebhookWorker:
    # Always: an app may subscribe while the server runs (`partway webhooks subscribe`).
    worker = build_worker(
        settings, SqlDeliveries(engine, durable=settings.fsync), clock, registry,
        SqlSubscriptions(engine, durable=settings.fsync),
    )  # fmt: skip
    await worker.start()  # before the first request: see WebhookWorker.start
    background.append(asyncio.create_task(worker.run_forever(settings.webhook_poll_seconds)))
    return worker


# The event loop's, the body pump's reactor and the SQLite group-commit writer.
FIXED_THREADS = 3


def resolver_threads() -> int:
    """libuv's thread pool, which uvloop's getaddrinfo runs in (4 unless UV_THREADPOOL_SIZE)."""
    try:
        return max(1, int(os.environ.get("UV_THREADPOOL_SIZE", "4")))
    except ValueError:
        return 4


def create_app(settings: Settings, clock: Clock = utc_now) -> Starlette:
    engine = open_metadata(settings)
    DISK.resize(settings.disk_threads)
    sqlite = engine.dialect.name == "sqlite"
    SQL.resize(settings.sql_threads or (2 if sqlite else 24))
    services = build_services(settings, engine, clock)
    # A newer request for an upload stops an older append, on any instance (issue #19).
    superseding = supersede.for_metadata(settings.metadata_url())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        other = Threads("io", OTHER_THREADS)
        loop.set_default_executor(other.executor)
        for threads in (other, DISK, SQL):
            services.metrics.pool.labels(threads.name, "threads").set(threads.size)
            services.metrics.pool.labels(threads.name, "queued").set_function(threads.queued)
        pools = settings.body_threads + other.size + DISK.size + SQL.size
        services.metrics.threads_limit.set(pools + FIXED_THREADS + resolver_threads())
        # Bytes orphaned by a crash are swept at start (past the grace period), then the reaper
        # runs periodically; several servers may run it on one store (claims are atomic).
        background = [
            asyncio.create_task(
                every(settings.reap_interval_seconds, "reaper", services.reaper.run_once)
            ),
            # Folder copies whose process died mid-copy: rows, counted bytes and objects.
            asyncio.create_task(
                every(
                    settings.reap_interval_seconds,
                    "copy reaper",
                    services.catalog.copies.reclaim_stale,
                )
            ),
            asyncio.create_task(
                every(GAUGE_REFRESH_SECONDS, "gauge refresh", lambda: ops.refresh_gauges(services))
            ),
        ]
        # Webhooks (issue #21): delivered from the outbox by every server; claims keep it once.
        worker = await start_webhooks(
            settings, engine, clock, services.metrics.registry, background
        )
        await superseding.start()
        yield
        await superseding.close()
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        await worker.close()
        await services.close()
        engine.dispose()

    routes: list[BaseRoute] = [
        Route("/", lambda request: RedirectResponse("/ui/"), methods=["GET"]),
        Mount("/ui", StaticFiles(directory=WEB_DIR, html=True), name="ui"),
        *sessions.routes,
        *direct.routes,
        *s3_companion.routes,
        *files.routes,
        *folders.routes,
        *drives.routes,
        *links.routes,
        *search.routes,
        *signed.routes,
        *signed_parts.routes,
        *form_uploads.routes,
        *exports.routes,
        *copies.routes,
        *resumable.routes,
        *openapi.routes,
        *ops.routes,
    ]
    if settings.metrics_port is None:
        routes += ops.metrics_routes
    gate = fair_share.Gate(settings.max_active_requests or (1 if sqlite else 4))
    slots = services.metrics.request_slots
    slots.labels("slots").set(gate.slots)
    slots.labels("active").set_function(lambda: gate.active)
    slots.labels("waiting").set_function(lambda: gate.waiting)
    middleware = [Middleware(Observe, metrics=services.metrics, gate=gate)]
    if settings.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origins,
                allow_methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
                allow_headers=["*"],
                expose_headers=["request-id", "content-range", *tus_wire.EXPOSED],
            )
        )
    middleware.append(Middleware(RefuseNul))  # innermost: its 400 is logged and CORS-headed
    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={
            DomainError: errors.domain_error,
            HTTPException: errors.http_error,
            ClientDisconnect: errors.client_left,
            Exception: errors.unexpected_error,
        },
        lifespan=lifespan,
    )
    app.state.services = services
    app.state.supersede = superseding
    return app


def create_metrics_app(services: ServerServices) -> Starlette:
    """/metrics alone, for a separate port."""
    app = Starlette(routes=ops.metrics_routes)
    app.state.services = services
    return app
