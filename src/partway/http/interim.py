"""Interim (1xx) responses chosen by a route, such as the resumable-upload draft's `104 Upload
Resumption Supported`: ASGI has no message for them, so partway's own HTTP protocol
(`server.py`) offers a sender in the request's scope extensions. On uvicorn's stock protocol
there is none and nothing is sent; the draft makes the 104 optional."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from starlette.requests import Request

INTERIM_EXTENSION = "partway.interim"
# (status, reason phrase, headers) → written at once, if the final response has not started.
InterimSender = Callable[[int, str, Mapping[str, str]], None]


def send_interim(request: Request, status: int, reason: str, headers: Mapping[str, str]) -> bool:
    """Send an interim response now if the server can; whether it did."""
    sender: InterimSender | None = request.scope.get("extensions", {}).get(INTERIM_EXTENSION)
    if sender is None:
        return False
    sender(status, reason, headers)
    return True


def interim_head(status: int, reason: str, headers: Mapping[str, str]) -> bytes:
    """The bytes of an interim response: a status line and header fields, no body. Values
    come from the server (URLs it made, versions it serves); CR and LF are refused anyway."""
    lines = [f"HTTP/1.1 {status} {reason}"]
    for name, value in headers.items():
        if "\r" in value or "\n" in value:
            raise ValueError(f"header {name} holds a line break")
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
