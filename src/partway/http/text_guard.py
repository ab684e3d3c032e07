"""NUL in a request's path or query string is refused before routing: a 400 with the Apideck
error body.

No id, token or cursor partway issues holds one, and no store keeps one: PostgreSQL refuses NUL
in any text (an id, filter or cursor holding `%00` reached the driver and was a 500), and SQLite
cuts a string at it (a search for NUL matched every name). JSON bodies are checked where they
are parsed (json_input.py); header values cannot carry NUL past the HTTP parser.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from .errors import error_response

MESSAGE = "the request's path or query holds a NUL character (%00), which is not text"


def holds_nul(scope: Scope) -> bool:
    path: str = scope["path"]  # already percent-decoded
    query: bytes = scope.get("query_string", b"")
    return "\x00" in path or b"%00" in query or b"\x00" in query


class RefuseNul:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and holds_nul(scope):
            await error_response(400, "RequestValidationError", MESSAGE)(scope, receive, send)
            return
        await self.app(scope, receive, send)
