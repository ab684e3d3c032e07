"""A typed async client for partway's HTTP API: one method per endpoint, retries built in."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from ..wire import (
    APP_ID,
    CONSUMER_ID,
    DIGEST,
    FILES_PATH,
    IDEMPOTENCY_KEY,
    MAX_PAGE,
    PART_SIZE_HINT,
    SERVICE_ID,
    SESSIONS_PATH,
    UPLOAD_MODE,
)
from .retry import RETRY_ERRORS, RetryPolicy, never_sent, never_works, waiting_for


def needs_tls(base_url: str) -> bool:
    """Whether httpx's own transport is needed: plain HTTP goes over partway's (plainhttp.py for
    the API calls, rawput.py for part bodies), which load no TLS context (~40 ms of CPU for the
    CA bundle) and neither httpcore nor anyio."""
    return base_url.lower().startswith("https:")


class ApiError(Exception):
    """An error answer of the server, with the Apideck error body's fields."""

    def __init__(self, status: int, type_name: str, message: str, detail: Any = None) -> None:
        super().__init__(f"{status} {type_name}: {message}")
        self.status = status
        self.type_name = type_name
        self.message = message
        self.detail = detail


@dataclass(frozen=True)
class Credentials:
    api_key: str
    app_id: str
    consumer_id: str
    service_id: str | None = None

    def headers(self) -> dict[str, str]:
        headers = {
            "Authorization": f"Bearer {self.api_key}",
            APP_ID: self.app_id,
            CONSUMER_ID: self.consumer_id,
        }
        if self.service_id:
            headers[SERVICE_ID] = self.service_id
        return headers


@dataclass(frozen=True)
class SessionInfo:
    id: str
    part_size: int
    size: int | None
    uploaded_parts: list[int]
    success: bool
    name: str
    expires_at: str | None
    file_id: str | None
    # The digests the server takes, fastest first (partway's extension; others: none named).
    digest_algorithms: tuple[str, ...] = ()
    # Whether its parts go straight into the store (partway's extension; others: proxied).
    direct: bool = False

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SessionInfo:
        return cls(
            id=data["id"],
            part_size=int(data["part_size"]),
            size=data.get("size"),
            uploaded_parts=list(data.get("uploaded_parts", [])),
            success=bool(data.get("success")),
            name=data.get("name", ""),
            expires_at=data.get("expires_at"),
            file_id=data.get("file_id"),
            digest_algorithms=tuple(data.get("digest_algorithms") or ()),
            direct=data.get("upload_mode") == "direct",
        )


@dataclass(frozen=True)
class SessionSummary:
    """An unfinished session as the list shows it: its parts as a count and byte ranges."""

    id: str
    name: str
    size: int | None
    part_size: int
    uploaded_parts_count: int
    uploaded_byte_range: str
    expires_at: str | None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SessionSummary:
        return cls(
            id=data["id"],
            name=data.get("name", ""),
            size=data.get("size"),
            part_size=int(data["part_size"]),
            uploaded_parts_count=int(data.get("uploaded_parts_count", 0)),
            uploaded_byte_range=data.get("uploaded_byte_range", ""),
            expires_at=data.get("expires_at"),
        )


def raise_for_error(res: httpx.Response) -> None:
    if res.status_code < 400:
        return
    try:
        body = res.json()
        message = str(body.get("message") or res.reason_phrase)
        raise ApiError(res.status_code, str(body.get("type_name", "")), message, body.get("detail"))
    except ValueError:
        raise ApiError(res.status_code, "", res.text[:200] or res.reason_phrase) from None


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
            except RETRY_ERRORS as exc:
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
        body: dict[str, Any] = {"name": name, "parent_folder_id": folder_id, "size": size}
        if drive_id:
            body["drive_id"] = drive_id
        # The key makes a retried create (first answer lost) return the same session.
        headers = {IDEMPOTENCY_KEY: idempotency_key or secrets.token_hex(16)}
        if part_size_hint:
            headers[PART_SIZE_HINT] = str(part_size_hint)
        if upload_mode:
            headers[UPLOAD_MODE] = upload_mode
        res = await self._send("POST", SESSIONS_PATH, json=body, headers=headers)
        session_id: str = res.json()["data"]["id"]
        return session_id

    async def get_session(self, session_id: str) -> SessionInfo:
        res = await self._send("GET", f"{SESSIONS_PATH}/{session_id}")
        return SessionInfo.from_json(res.json()["data"])

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
        headers = {DIGEST: digest} if digest else None
        res = await self._send("POST", f"{SESSIONS_PATH}/{session_id}/finish", headers=headers)
        data: dict[str, Any] = res.json()["data"]
        return data

    async def direct_parts(self, session_id: str) -> list[dict[str, Any]] | None:
        """partway extension: a signed URL per missing part for PUTs straight into the store;
        None when the session's store takes no direct parts (local disk, an older server)."""
        try:
            res = await self._send("GET", f"{SESSIONS_PATH}/{session_id}/direct")
        except ApiError as exc:
            # 404/405: a server without the route (the session was just read, so it exists);
            # a session that did vanish fails at the next call anyway.
            unsupported = exc.type_name == "ConnectorOperationUnsupportedError"
            if exc.status in (404, 405) or unsupported:
                return None
            raise
        parts: list[dict[str, Any]] = res.json()["data"]["parts"]
        return parts

    async def claimed_direct_parts(
        self, session_id: str, claims: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """partway extension: signed URLs for the parts named in `claims` (`part_number`, and
        `md5`/`crc32c` in base64), each bound to what the part will hold."""
        path = f"{SESSIONS_PATH}/{session_id}/direct"
        res = await self._send("POST", path, json={"parts": claims})
        parts: list[dict[str, Any]] = res.json()["data"]["parts"]
        return parts

    async def direct_finish(self, session_id: str, digest: str | None = None) -> dict[str, Any]:
        headers = {DIGEST: digest} if digest else None
        path = f"{SESSIONS_PATH}/{session_id}/direct/finish"
        data: dict[str, Any] = (await self._send("POST", path, headers=headers)).json()["data"]
        return data

    async def abort(self, session_id: str) -> None:
        await self._send("DELETE", f"{SESSIONS_PATH}/{session_id}")

    async def get_file(self, file_id: str) -> dict[str, Any]:
        res = await self._send("GET", f"{FILES_PATH}/{file_id}")
        data: dict[str, Any] = res.json()["data"]
        return data

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
