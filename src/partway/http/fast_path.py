"""Whether partway's HTTP protocol (server.py) can be trusted with the installed uvicorn: it
subclasses uvicorn's httptools protocol and relies on attributes of its request cycle."""

from __future__ import annotations

import importlib.metadata
import inspect
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

# The uvicorn releases server.py was tested with (pyproject holds the same upper bound).
UVICORN_TESTED = ((0, 54), (0, 55))


def fast_path_problem() -> str | None:
    """Why EdgeProtocol cannot be trusted with the installed uvicorn, or None if it can."""
    try:
        version = importlib.metadata.version("uvicorn")
        numbers = tuple(int(part) for part in version.split(".")[:2])
        low, high = UVICORN_TESTED
        if not low <= numbers < high:
            return f"uvicorn {version} is outside the tested range {_dotted(low)}–<{_dotted(high)}"
        for name in (
            "connection_made",
            "connection_lost",
            "data_received",
            "on_message_begin",
            "on_header",
            "on_headers_complete",
            "on_body",
            "on_message_complete",
            "send_400_response",
            "_unset_keepalive_if_required",
            "on_response_complete",
            "timeout_keep_alive_handler",
        ):
            if not callable(getattr(HttpToolsProtocol, name, None)):
                return f"uvicorn's HttpToolsProtocol has no {name}()"
        params = inspect.signature(RequestResponseCycle.__init__).parameters
        dummies: dict[str, Any] = {name: None for name in list(params)[1:]}
        cycle = RequestResponseCycle(**dummies)
        for name in (
            "body",
            "more_body",
            "keep_alive",
            "disconnected",
            "waiting_for_100_continue",
            "response_started",
            "transport",
            "message_event",
            "scope",
            "send",
        ):
            if not hasattr(cycle, name):
                return f"uvicorn's RequestResponseCycle has no {name}"
        for name in ("HttpRequestParser", "HttpParserError", "HttpParserUpgrade"):
            if not hasattr(httptools, name):
                return f"httptools has no {name}"
    except Exception as exc:
        return f"checking uvicorn's protocol failed: {exc!r}"
    return None


def _dotted(version: tuple[int, ...]) -> str:
    return ".".join(map(str, version))
