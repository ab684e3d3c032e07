"""A typed async client for partway's HTTP API: one method per endpoint, retries built in.

`partway upload` uses syncapi.py instead (blocking, without httpx or asyncio to import)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx

from ..wire import DIGEST, FILES_PATH, MAX_PAGE, SESSIONS_PATH
from . import calls
from .calls import Call
from .models import (
    ApiError,
    Credentials,
    SessionInfo,
    SessionSummary,
    needs_tls,
    raise_for_error,
)
from .retry import RetryPolicy, never_sent, never_works, waiting_for

__all__ = [
    "ApiError",
    "AsyncApi",
    "Credentials",
    "SessionInfo",
    "SessionSummary",
    "needs_tls",
    "raise_for_error",
]


def _client(base_url: str) -> httpx.AsyncClient:
    timeout = httpx.Timeout(60.0, connect=10.0)
    if not needs_tls(base_url):
        from .plainhttp import plain_client  # no httpcore, anyio or idna to load

        return plain_client(base_url, timeout=timeout)
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=32)
    return httpx.AsyncClient(base_url=base_url, timeout=timeout, limits=limits)


class AsyncApi:
    def __init__(
        self,
        base_url: str,
        credentials: Credentials,
        *,
        retry: RetryPolicy | None = None,
        http: httpx.AsyncClient | None = None,
        on_retry: Callable[[str, float], None] | None = None,
    ) -> None:
        self._http = http or _client(base_url)
        self._headers = credentials.headers()
        self._retry = retry or RetryPolicy()
        self._on_retry = on_retry
        # What a blocking part sender (client/parts.py) needs to reach the same server alike.
        self.base_url = base_url
        self.credentials = credentials
        self.retry = self._retry
        self.on_retry = on_retry
        # Until the server has answered once, a failure that cannot mend is not retried: a
        # wrong URL or a dead port fails at once instead of after minutes of backoff.
        self.reached = False
        # Tries that may have reached the server (answered, or cut off after being sent): a
        # caller compares it around a call to know whether the server may have acted on it.
        self.deliveries = 0

    async def __aenter__(self) -> AsyncApi:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def reach(self) -> None:
        """One cheap GET first, so an address that can never work (nothing listening, no such
        host, not an HTTP server) fails at once rather than after minutes of retries of a
        request whose answer might only have been lost. Any HTTP answer will do (a proxy may
        not route /healthz); only timeouts are retried."""
        attempt = 0
        while True:
            try:
                await self._http.get("/healthz")
                self.reached = True
                return
            except httpx.TimeoutException as exc:
                wait = self._retry.after(attempt)
                if wait is None:
                    raise
                if self._on_retry is not None:
                    tries = f"try {attempt + 2} of {self._retry.attempts}"
                    self._on_retry(f"{waiting_for(exc)}, then GET /healthz again ({tries})", wait)
                await asyncio.sleep(wait)
                attempt += 1

    async def _send(
        self, method: str, path: str, *, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> httpx.Response:
        """Send with retries on connection errors and 408/429/5xx; raise ApiError on others."""
        all_headers = {**self._headers, **(headers or {})}
        attempt = 0
        while True:
            try:
                res = await self._http.request(method, path, headers=all_headers, **kwargs)
            except httpx.TransportError as exc:
                self.deliveries += 0 if never_sent(exc) else 1
                wait = None if not self.reached and never_works(exc) else self._retry.after(attempt)
                if wait is None:
                    raise
                reason = waiting_for(exc)
            else:
                self.reached = True
                self.deliveries += 1
                wait = self._retry.after(attempt, res.status_code, res.headers.get("retry-after"))
                if wait is None:
                    raise_for_error(res)
                    return res
                reason = waiting_for(None, res.status_code)
            if self._on_retry is not None:
                tries = f"try {attempt + 2} of {self._retry.attempts}"
                self._on_retry(f"{reason}, then {method} {path} again ({tries})", wait)
            await asyncio.sleep(wait)
            attempt += 1

    async def _call(self, call: Call) -> Any:
        """Send `call`; its answer's body, decoded (None if it has none)."""
        res = await self._send(call.method, call.path, headers=call.headers, json=call.json)
        return res.json() if res.content else None

    async def create_session(
        self,
        name: str,
        folder_id: str,
        size: int | None,
        drive_id: str | None = None,
        part_size_hint: int | None = None,
        idempotency_key: str | None = None,
        upload_mode: str | None = None,
    ) -> str:
        new = calls.NewSession(
            name, folder_id, size, drive_id, part_size_hint, idempotency_key, upload_mode
        )
        return calls.created_id(await self._call(calls.create_session(new)))

    async def get_session(self, session_id: str) -> SessionInfo:
        return calls.session_info(await self._call(calls.get_session(session_id)))

    async def sessions_page(
        self, cursor: str | None = None, limit: int | None = None
    ) -> tuple[list[SessionSummary], str | None]:
        """One page of the unfinished sessions, oldest first, and the cursor of the next."""
        params = {"cursor": cursor, "limit": limit}
        res = await self._send(
            "GET", SESSIONS_PATH, params={k: v for k, v in params.items() if v is not None}
        )
        body = res.json()
        found = [SessionSummary.from_json(item) for item in body["data"]]
        return found, body.get("meta", {}).get("cursors", {}).get("next")

    async def list_sessions(self) -> list[SessionSummary]:
        """Every unfinished session, following the cursors page by page."""
        found: list[SessionSummary] = []
        cursor = None
        while True:
            page, cursor = await self.sessions_page(cursor, MAX_PAGE)
            found += page
            if cursor is None:
                return found

    async def upload_part(
        self, session_id: str, number: int, data: bytes, digest: str | None = None
    ) -> None:
        headers = {"content-type": "application/octet-stream"}
        if digest:
            headers[DIGEST] = digest
        await self._send(
            "PUT",
            f"{SESSIONS_PATH}/{session_id}",
            params={"part_number": number},
            content=data,
            headers=headers,
        )

    async def finish(self, session_id: str, digest: str | None = None) -> dict[str, Any]:
        return calls.data(await self._call(calls.finish(session_id, digest)))

    async def direct_parts(self, session_id: str) -> list[dict[str, Any]] | None:
        """partway extension: a signed URL per missing part for PUTs straight into the store;
        None when the session's store takes no direct parts (local disk, an older server)."""
        try:
            return calls.parts(await self._call(calls.direct_parts(session_id)))
        except ApiError as exc:
            if calls.no_direct_parts(exc):
                return None
            raise

    async def claimed_direct_parts(
        self, session_id: str, claims: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """partway extension: signed URLs for the parts named in `claims`."""
        return calls.parts(await self._call(calls.claimed_direct_parts(session_id, claims)))

    async def direct_finish(self, session_id: str, digest: str | None = None) -> dict[str, Any]:
        headers = {DIGEST: digest} if digest else None
        path = f"{SESSIONS_PATH}/{session_id}/direct/finish"
        data: dict[str, Any] = (await self._send("POST", path, headers=headers)).json()["data"]
        return data

    async def abort(self, session_id: str) -> None:
        await self._call(calls.abort(session_id))

    async def get_file(self, file_id: str) -> dict[str, Any]:
        return calls.data(await self._call(calls.get_file(file_id)))

    async def download(self, file_id: str, start: int = 0) -> AsyncIterator[bytes]:
        """The file's bytes from `start` on, streamed."""
        headers = {**self._headers}
        if start:
            headers["range"] = f"bytes={start}-"
        async with self._http.stream(
            "GET", f"{FILES_PATH}/{file_id}/download", headers=headers
        ) as res:
            if res.status_code >= 400:
                await res.aread()
                raise_for_error(res)
            async for chunk in res.aiter_bytes(1024 * 1024):
                yield chunk
