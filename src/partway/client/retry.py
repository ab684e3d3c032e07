"""When and how long to wait before trying a request again."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
RETRY_ERRORS = (httpx.TransportError,)


def never_works(exc: httpx.TransportError) -> bool:
    """Failures that retrying the first request of a run cannot mend: nothing listens there
    (refused), the host does not exist, the URL is not HTTP, or what answers is not an HTTP
    server. A connection closed without an answer is not among them: that is how a lost
    answer looks, and the request may well have been carried out."""
    if isinstance(exc, httpx.ConnectError | httpx.UnsupportedProtocol | httpx.LocalProtocolError):
        return True
    # What answered spoke something else than HTTP ("illegal status line" and the like).
    return isinstance(exc, httpx.RemoteProtocolError) and "disconnect" not in str(exc).lower()


def never_sent(exc: httpx.TransportError) -> bool:
    """The request cannot have reached the server: it failed before a connection was made."""
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
    if isinstance(exc, httpx.ConnectError):
        return "the server to accept connections"
    if isinstance(exc, httpx.TimeoutException):
        return "the server to answer (timed out)"
    return "an answer (the connection closed before one came)"


@dataclass(frozen=True)
class RetryPolicy:
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
        ceiling = min(self.maximum, self.initial * self.multiplier**attempt)
        return random.uniform(ceiling / 2, ceiling)


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())
