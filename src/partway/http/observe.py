"""ASGI middleware: request ids, one log line per request, and the request metrics."""

from __future__ import annotations

import itertools
import logging
import os
import re
import time
from typing import Any

from .. import fair_share
from ..metrics import Metrics
from ..wire import APP_ID, CONSUMER_ID, REQUEST_ID
from .socket_body import socket_body

log = logging.getLogger("partway.http")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

Scope = dict[str, Any]
Message = dict[str, Any]

# Request ids: a random prefix per process and a counter; unique without a getrandom(2) a request.
_ID_PREFIX = os.urandom(8).hex()
_ID_COUNTER = itertools.count(1)


def new_request_id() -> str:
    return f"{_ID_PREFIX}{next(_ID_COUNTER):016x}"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            text: str = value.decode("latin-1")
            return text
    return None


class Observe:
    def __init__(self, app: Any, metrics: Metrics, gate: fair_share.Gate) -> None:
        self.app = app
        self.metrics = metrics
        self.gate = gate

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, b"x-request-id")
        request_id = incoming if incoming and _SAFE_ID.match(incoming) else new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        counts = {"in": 0, "out": 0, "status": 500}
        turn = fair_share.begin(self.gate)

        async def receive_counted() -> Message:
            message: Message = await receive()
            if message["type"] == "http.request":
                counts["in"] += len(message.get("body", b""))
            return message

        async def send_tagged(message: Message) -> None:
            if message["type"] == "http.response.start":
                fair_share.end(turn)  # sending (a download, say) is no work for the loop
                counts["status"] = message["status"]
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID.encode(), request_id.encode("latin-1")))
                message = {**message, "headers": headers}
            elif message["type"] == "http.response.body":
                counts["out"] += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive_counted, send_tagged)
        finally:
            fair_share.end(turn)
            took = time.perf_counter() - started
            self._record(scope, request_id, counts, took, turn.waited)

    def _record(
        self, scope: Scope, request_id: str, counts: dict[str, int], took: float, waited: float
    ) -> None:
        route = getattr(scope.get("route"), "path", "unmatched")
        method, status = scope["method"], counts["status"]
        m = self.metrics
        m.requests.labels(route, method, str(status)).inc()
        m.latency.labels(route, method).observe(took)
        direct = socket_body(scope)
        if direct is not None:
            counts["in"] += direct.received
        m.bytes_received.inc(counts["in"])
        m.bytes_served.inc(counts["out"])
        if route in ("/metrics", "/healthz", "/readyz"):
            return
        log.info(
            "request",
            extra={
                "request_id": request_id,
                "client": (scope.get("client") or ("", 0))[0],
                "app_id": _header(scope, APP_ID.encode()),
                "consumer_id": _header(scope, CONSUMER_ID.encode()),
                "method": method,
                "route": route,
                "path": logged_path(scope),
                "status": status,
                "bytes_in": counts["in"],
                "bytes_out": counts["out"],
                "duration_ms": round(took * 1000, 2),
                "queued_ms": round(waited * 1000, 2),  # of duration_ms, waiting for its turn
            },
        )


# Path parameters that are capabilities (the companion grants of http/s3_companion.py, shared
# links' tokens): whoever reads the log must not be able to use them.
SECRET_PATH_PARAMS = ("grant", "token")


def logged_path(scope: Scope) -> str:
    path: str = scope["path"]
    found = scope.get("path_params") or {}
    for name in SECRET_PATH_PARAMS:
        if value := found.get(name):
            path = path.replace(value, "{" + name + "}")
    return path
