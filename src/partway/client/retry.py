"""When and how long to wait before trying a request again, and the blocking retry loop.

Transport failures are httpx's exception types whichever client raised them (httpx's own, or
rawhttp.py's sockets), but httpx is imported only once one is in hand: `partway upload` over
plain HTTP never loads it (~25 ms of its start). An httpx exception cannot exist before httpx
is imported, so a failure raised while it is not loaded is not one of them.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple, cast

if TYPE_CHECKING:
    import httpx

    from .models import Reply

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


def is_transport_error(exc: BaseException) -> bool:
    """Whether `exc` is an httpx transport error (a request that failed without an answer)."""
    httpx = sys.modules.get("httpx")
    return httpx is not None and isinstance(exc, httpx.TransportError)


def never_works(exc: httpx.TransportError) -> bool:
    """Failures that retrying the first request of a run cannot mend: nothing listens there
    (refused), the host does not exist, the URL is not HTTP, or what answers is not an HTTP
    server. A connection closed without an answer is not among them: that is how a lost
    answer looks, and the request may well have been carried out."""
    import httpx

    if isinstance(exc, httpx.ConnectError | httpx.UnsupportedProtocol | httpx.LocalProtocolError):
        return True
    # What answered spoke something else than HTTP ("illegal status line" and the like).
    return isinstance(exc, httpx.RemoteProtocolError) and "disconnect" not in str(exc).lower()


def never_sent(exc: httpx.TransportError) -> bool:
    """The request cannot have reached the server: it failed before a connection was made."""
    import httpx

    return isinstance(
        exc,
        httpx.ConnectError
        | httpx.ConnectTimeout
        | httpx.PoolTimeout
        | httpx.UnsupportedProtocol
        | httpx.LocalProtocolError,
    )


def waiting_for(exc: httpx.TransportError | None, status: int | None = None) -> str:
    """What a retry waits for, in words."""
    if status is not None:
        return f"the server to recover (HTTP {status})"
    import httpx

    if isinstance(exc, httpx.ConnectError):
        return "the server to accept connections"
    if isinstance(exc, httpx.TimeoutException):
        return "the server to answer (timed out)"
    return "an answer (the connection closed before one came)"


class RetryPolicy(NamedTuple):
    attempts: int = 8
    initial: float = 0.5
    maximum: float = 30.0
    multiplier: float = 2.0

    def after(
        self, attempt: int, status: int | None = None, retry_after: str | None = None
    ) -> float | None:
        """How long to wait before the next try of a request whose try number `attempt` (from
        0) failed with `status` (None: a connection error); None when it must not be retried."""
        if attempt + 1 >= self.attempts:
            return None
        if status is not None and status not in RETRY_STATUSES:
            return None
        return self.delay(attempt, retry_after)

    def delay(self, attempt: int, retry_after: str | None = None) -> float:
        """Full-jitter exponential backoff, unless the server said how long to wait."""
        hinted = parse_retry_after(retry_after)
        if hinted is not None:
            return min(hinted, self.maximum)
        import random  # ~1 ms of `partway upload`'s start, for its first retry

        ceiling = min(self.maximum, self.initial * self.multiplier**attempt)
        return random.uniform(ceiling / 2, ceiling)


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    # An HTTP date: rare, and email.utils is ~3 ms of `partway upload`'s start.
    from datetime import UTC, datetime
    from email.utils import parsedate_to_datetime

    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


class Retrying:
    """The blocking retry loop of the uploader's requests (syncapi.py) and part bodies (parts.py,
    direct.py): connection failures and 408/429/5xx answers are tried again after the policy's
    wait, until it gives up or `stopping` is set (then a wait ends at once)."""

    def __init__(
        self,
        policy: RetryPolicy,
        on_retry: Callable[[str, float], None] | None = None,
        stopping: threading.Event | None = None,
    ) -> None:
        self.policy = policy
        self.on_retry = on_retry
        self.stopping = stopping

    def until(self, stopping: threading.Event) -> Retrying:
        """The same loop, ended by `stopping` instead."""
        return Retrying(self.policy, self.on_retry, stopping)

    def send(
        self,
        once: Callable[[], Reply],
        what: str,
        gives_up: Callable[[httpx.TransportError], bool] | None = None,
        tried: Callable[[Reply | None, httpx.TransportError | None], None] | None = None,
        retry_answers: bool = True,
    ) -> Reply:
        """The answer to `once()` that is not retried (success or not: the caller judges it).
        `what` names the request in the retry message; `gives_up`: failures not to retry;
        `tried` hears of each try's answer or failure; `retry_answers`: False takes any
        answer, 5xx too."""
        stopping = self.stopping or threading.Event()
        attempt = 0
        while True:
            try:
                res = once()
            except Exception as exc:
                if not is_transport_error(exc):
                    raise
                failure = cast("httpx.TransportError", exc)
                if tried is not None:
                    tried(None, failure)
                ends = stopping.is_set() or (gives_up is not None and gives_up(failure))
                wait = None if ends else self.policy.after(attempt)
                if wait is None:
                    raise
                reason = waiting_for(failure)
            else:
                if tried is not None:
                    tried(res, None)
                retry_after = res.headers.get("retry-after")
                wait = self.policy.after(attempt, res.status_code, retry_after)
                if wait is None or stopping.is_set() or not retry_answers:
                    return res
                reason = waiting_for(None, res.status_code)
            if self.on_retry is not None:
                tries = f"try {attempt + 2} of {self.policy.attempts}"
                self.on_retry(f"{reason}, then {what} again ({tries})", wait)
            if stopping.wait(wait):
                raise InterruptedError("the upload was stopped")
            attempt += 1
