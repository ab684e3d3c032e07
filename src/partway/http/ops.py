"""Unauthenticated operator endpoints: /healthz, /readyz and /metrics."""

from __future__ import annotations

import asyncio
import contextlib

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..services import Services
from .context import services_of

READY_TIMEOUT = 5.0


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    services = services_of(request)
    checks: dict[str, str] = {}

    async def check(name: str, probe: object) -> None:
        try:
            await asyncio.wait_for(probe, READY_TIMEOUT)  # type: ignore[arg-type]
            checks[name] = "ok"
        except Exception as exc:  # any failure means not ready; say which
            checks[name] = f"{type(exc).__name__}: {exc}"[:300]

    await check("metadata", services.repo.ping())
    for service_id, storage in services.uploads.storages().items():
        await check(f"storage:{service_id}", storage.ready())
    ok = all(v == "ok" for v in checks.values())
    body = {"status": "ok" if ok else "unavailable", "checks": checks}
    return JSONResponse(body, status_code=200 if ok else 503)


async def refresh_gauges(services: Services) -> None:
    sessions, held = await services.repo.open_usage()
    services.metrics.open_sessions.set(sessions)
    services.metrics.open_bytes.set(held)


async def metrics(request: Request) -> Response:
    services = services_of(request)
    # The store being down must not hide the other metrics.
    with contextlib.suppress(Exception):
        await refresh_gauges(services)
    body = await asyncio.to_thread(generate_latest, services.metrics.registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


routes = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
]
metrics_routes = [Route("/metrics", metrics, methods=["GET"])]
