"""The blocking client of the calls an upload makes (calls.py), for the uploader: over plain HTTP
on sockets of our own (rawhttp.py), so `partway upload` imports neither httpx nor asyncio
(a third of its start); over TLS through httpx's blocking client. Thread-safe: the uploader's
worker threads claim direct parts through it."""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import calls
from .calls import Call, NewSession
from .models import ApiError, Credentials, Reply, SessionInfo, needs_tls, raise_for_error
from .rawhttp import RawHttp
from .retry import Retrying, RetryPolicy, never_sent, never_works

if TYPE_CHECKING:
    import httpx


class SyncApi:
    def __init__(
        self,
        base_url: str,
        credentials: Credentials,
        *,
        retry: RetryPolicy | None = None,
        http: httpx.Client | None = None,
        on_retry: Callable[[str, float], None] | None = None,
    ) -> None:
        self._raw = None if http is not None or needs_tls(base_url) else RawHttp(base_url, {})
        self._http = http if http is not None or self._raw is not None else _tls_client(base_url)
        self._headers = credentials.headers()
        # What the part senders (parts.py, direct.py) need to reach the same server alike.
        self.base_url = base_url
        self.credentials = credentials
        self.retry = retry or RetryPolicy()
        self.on_retry = on_retry
        self._stopping = threading.Event()
        self._retrying = Retrying(self.retry, on_retry, self._stopping)
        self._lock = threading.Lock()
        # Until the server has answered once, a failure that cannot mend is not retried: a
        # wrong URL or a dead port fails at once instead of after minutes of backoff.
        self.reached = False
        # Tries that may have reached the server (answered, or cut off after being sent): a
        # caller compares it around a call to know whether the server may have acted on it.
        self.deliveries = 0

    def __enter__(self) -> SyncApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._raw is not None:
            self._raw.close_all()
        if self._http is not None:
            self._http.close()

    def _once(self, call: Call, headers: dict[str, str]) -> Reply:
        if self._raw is not None:
            body = None if call.json is None else json.dumps(call.json).encode()
            return self._raw.request(call.method, call.path, headers=headers, body=body)
        assert self._http is not None
        return self._http.request(call.method, call.path, headers=headers, json=call.json)

    def reach(self) -> None:
        """One cheap GET first, so an address that can never work (nothing listening, no such
        host, not an HTTP server) fails at once rather than after minutes of retries of a
        request whose answer might only have been lost. Any HTTP answer will do (a proxy may
        not route /healthz); only timeouts are retried."""
        once = functools.partial(self._once, calls.reach(), {})
        self._retrying.send(once, "GET /healthz", _not_timeout, retry_answers=False)
        self.reached = True

    def stop(self) -> None:
        """For good (an upload was stopped): a call waiting to try again ends at once
        (InterruptedError), a failed one is not tried again, and over plain HTTP a call in
        flight ends at once and every later call raises InterruptedError. A new SyncApi
        resumes."""
        self._stopping.set()
        if self._raw is not None:
            self._raw.abort()

    def release_thread(self) -> None:
        """Close the calling thread's connection (a worker thread's, as it ends)."""
        if self._raw is not None:
            self._raw.close()

    def _call(self, call: Call, stopping: threading.Event | None = None) -> Any:
        """Send `call` with retries on connection errors and 408/429/5xx; raise ApiError on
        other errors; its answer's body, decoded (None if it has none). `stopping`, once set,
        ends the retries."""
        headers = {**self._headers, **(call.headers or {})}
        if call.json is not None:
            headers["content-type"] = "application/json"

        def gives_up(exc: httpx.TransportError) -> bool:
            return not self.reached and never_works(exc)

        def tried(res: Reply | None, exc: httpx.TransportError | None) -> None:
            with self._lock:
                if res is not None:
                    self.reached = True
                self.deliveries += 0 if exc is not None and never_sent(exc) else 1

        retrying = self._retrying if stopping is None else self._retrying.until(stopping)
        res = retrying.send(
            lambda: self._once(call, headers), f"{call.method} {call.path}", gives_up, tried
        )
        raise_for_error(res)
        return res.json() if res.content else None

    def create_session(self, new: NewSession) -> str:
        return calls.created_id(self._call(calls.create_session(new)))

    def get_session(self, session_id: str) -> SessionInfo:
        return calls.session_info(self._call(calls.get_session(session_id)))

    def finish(self, session_id: str, digest: str | None = None) -> dict[str, Any]:
        return calls.data(self._call(calls.finish(session_id, digest)))

    def direct_parts(self, session_id: str) -> list[dict[str, Any]] | None:
        """A signed URL per missing part for PUTs straight into the store; None when the
        session's store takes no direct parts (local disk, an older server)."""
        try:
            return calls.parts(self._call(calls.direct_parts(session_id)))
        except ApiError as exc:
            if calls.no_direct_parts(exc):
                return None
            raise

    def claimed_direct_parts(
        self,
        session_id: str,
        claims: list[dict[str, Any]],
        stopping: threading.Event | None = None,
    ) -> list[dict[str, Any]]:
        call = calls.claimed_direct_parts(session_id, claims)
        return calls.parts(self._call(call, stopping))

    def abort(self, session_id: str) -> None:
        self._call(calls.abort(session_id))

    def get_file(self, file_id: str) -> dict[str, Any]:
        return calls.data(self._call(calls.get_file(file_id)))


def _not_timeout(exc: httpx.TransportError) -> bool:
    import httpx

    return not isinstance(exc, httpx.TimeoutException)


def _tls_client(base_url: str) -> httpx.Client:
    import httpx

    return httpx.Client(
        base_url=base_url,
        timeout=httpx.Timeout(60.0, connect=10.0),
        limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
    )
