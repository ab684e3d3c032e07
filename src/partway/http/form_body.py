"""A `multipart/form-data` body read as it arrives, for S3-style POST uploads: small text
fields first, then one file field whose bytes are streamed on (never held whole), as S3's POST
Object takes them (fields after the file are ignored).

RFC 7578 over RFC 2046: the body is `--boundary CRLF headers CRLF CRLF content`, each next part
after `CRLF --boundary CRLF`, and the last followed by `CRLF --boundary--`."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

from ..domain.errors import InvalidInput

MAX_FIELDS = 64
MAX_FIELD_BYTES = 64 * 1024
MAX_HEADER_BYTES = 16 * 1024
_BOUNDARY = re.compile(r'boundary=(?:"([^"]{1,70})"|([^;\s]{1,70}))', re.IGNORECASE)
_NAME = re.compile(r'(?:^|;)\s*name="([^"]*)"', re.IGNORECASE)


def boundary_of(content_type: str | None) -> bytes:
    """The boundary of a `multipart/form-data` content type, or a 400."""
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    found = _BOUNDARY.search(content_type or "")
    if kind != "multipart/form-data" or found is None:
        raise InvalidInput("expected a multipart/form-data body with a boundary")
    return (found.group(1) or found.group(2)).encode("latin-1")


class FormReader:
    def __init__(self, stream: AsyncIterator[bytes], boundary: bytes) -> None:
        self._stream = stream
        # The first delimiter has no CRLF before it: pretend it had, so all look the same.
        self._buf = bytearray(b"\r\n")
        self._delimiter = b"\r\n--" + boundary
        self._ended = False
        self._pulled = 0  # bytes taken from the stream

    async def _fill(self) -> bool:
        """More bytes into the buffer; False at the end of the body."""
        if self._ended:
            return False
        async for chunk in self._stream:
            if chunk:
                self._buf += chunk
                self._pulled += len(chunk)
                return True
        self._ended = True
        return False

    async def _until(self, marker: bytes, limit: int, what: str) -> bytes:
        """The bytes before `marker` (consumed with it), at most `limit` of them."""
        while True:
            at = self._buf.find(marker)
            if at >= 0:
                found = bytes(self._buf[:at])
                del self._buf[: at + len(marker)]
                return found
            if len(self._buf) > limit + len(marker):
                raise InvalidInput(f"form {what} is larger than {limit} bytes")
            if not await self._fill():
                raise InvalidInput(f"the form body ended inside its {what}")

    async def _next_part(self) -> str | None:
        """The name of the next part (its headers consumed), or None after the last."""
        await self._until(self._delimiter, MAX_FIELD_BYTES, "field")
        while len(self._buf) < 2 and await self._fill():
            pass
        if self._buf[:2] == b"--":
            return None
        headers = await self._until(b"\r\n\r\n", MAX_HEADER_BYTES, "part headers")
        for line in headers.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-disposition":
                found = _NAME.search(value)
                if found is not None:
                    return found.group(1)
        raise InvalidInput("a form part has no Content-Disposition name")

    async def fields(self) -> dict[str, str]:
        """The fields before the file (the reader then stands at the file's bytes); a 400 if
        the form has no field named `file`."""
        found: dict[str, str] = {}
        # A preamble, if any, is skipped by the first delimiter search.
        while True:
            if len(found) > MAX_FIELDS:
                raise InvalidInput(f"the form has more than {MAX_FIELDS} fields")
            name = await self._next_part()
            if name is None:
                raise InvalidInput("the form has no file field")
            if name.lower() == "file":
                return found
            value = await self._until_value()
            found[name] = value

    async def _until_value(self) -> str:
        """A text field's value: the bytes up to (not through) the next delimiter."""
        while True:
            at = self._buf.find(self._delimiter)
            if at >= 0:
                value = bytes(self._buf[:at])
                del self._buf[:at]  # the delimiter stays, for _next_part
                return value.decode("utf-8", "replace")
            if len(self._buf) > MAX_FIELD_BYTES + len(self._delimiter):
                raise InvalidInput(f"a form field is larger than {MAX_FIELD_BYTES} bytes")
            if not await self._fill():
                raise InvalidInput("the form body ended inside a field")

    def file_length_if_last(self, body_length: int) -> int:
        """After `fields()`: the file's length in a body of `body_length` bytes if only the
        closing delimiter and its CRLF follow the file (as every client sends it; anything
        else after the file counts as file here)."""
        unread = body_length - (self._pulled - len(self._buf))
        return unread - len(self._delimiter) - len(b"--\r\n")

    async def file(self) -> AsyncIterator[bytes]:
        """The file's bytes, up to the delimiter that ends them (what follows is ignored)."""
        keep = len(self._delimiter) - 1  # a delimiter may straddle two chunks
        while True:
            at = self._buf.find(self._delimiter)
            if at >= 0:
                if at:
                    yield bytes(self._buf[:at])
                del self._buf[:]
                return
            if len(self._buf) > keep:
                out = bytes(self._buf[: len(self._buf) - keep])
                del self._buf[: len(self._buf) - keep]
                yield out
            if not await self._fill():
                raise InvalidInput("the form body ended inside the file")
