"""The streaming multipart/form-data reader of S3-style POST uploads (http/form_body.py): the
fields before the file, the file's bytes whatever the chunking, and the malformed forms."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from partway.domain.errors import InvalidInput
from partway.http.form_body import FormReader, boundary_of

BOUNDARY = b"----partway7MA4YWxkTrZu0gW"


def form(fields: dict[str, str], data: bytes, after: bytes = b"") -> bytes:
    body = b"preamble to skip\r\n"
    for name, value in fields.items():
        body += b"--" + BOUNDARY + b"\r\n"
        body += f'Content-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
    body += b"--" + BOUNDARY + b"\r\n"
    body += b'Content-Disposition: form-data; name="file"; filename="a.bin"\r\n'
    body += b"Content-Type: application/octet-stream\r\n\r\n" + data + b"\r\n"
    return body + after + b"--" + BOUNDARY + b"--\r\n"


async def chunks(body: bytes, size: int) -> AsyncIterator[bytes]:
    for at in range(0, len(body), size):
        yield body[at : at + size]


async def read(body: bytes, size: int) -> tuple[dict[str, str], bytes]:
    reader = FormReader(chunks(body, size), BOUNDARY)
    fields = await reader.fields()
    return fields, b"".join([piece async for piece in reader.file()])


# Bytes that look like the delimiter's start, at the file's edges and inside it.
TRICKY = b"\r\n--" + BOUNDARY[:-1] + b"x\r\n-\r\n--" + bytes(range(256)) * 3 + b"\r\n--"


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, 1000, 1 << 20])
@pytest.mark.parametrize("data", [b"", b"x", TRICKY])
def test_fields_and_file_whatever_the_chunks(size: int, data: bytes) -> None:
    body = form({"key": "ses_1", "note": "a b\r\nc"}, data)
    fields, got = asyncio.run(read(body, size))
    assert fields == {"key": "ses_1", "note": "a b\r\nc"}
    assert got == data


def test_fields_after_the_file_are_ignored() -> None:
    extra = b"--" + BOUNDARY + b'\r\nContent-Disposition: form-data; name="late"\r\n\r\nv\r\n'
    fields, got = asyncio.run(read(form({"key": "k"}, b"data", extra), 5))
    assert fields == {"key": "k"} and got == b"data"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"--" + BOUNDARY + b"--\r\n", "no file field"),
        (form({}, b"abc")[:-30], "ended inside the file"),
        (b"no delimiter at all", "ended inside its field"),
        (b"--" + BOUNDARY + b"\r\nX-Other: 1\r\n\r\nv\r\n--" + BOUNDARY + b"--", "no Content"),
    ],
)
def test_malformed_forms(body: bytes, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        asyncio.run(read(body, 4))


def test_boundary_of() -> None:
    assert boundary_of('multipart/form-data; boundary="a b"') == b"a b"
    assert boundary_of("Multipart/Form-Data; charset=x; boundary=abc") == b"abc"
    for bad in (None, "text/plain", "multipart/form-data", "multipart/mixed; boundary=a"):
        with pytest.raises(InvalidInput):
            boundary_of(bad)


@pytest.mark.parametrize("size", [1, 5, 64, 1 << 20])
@pytest.mark.parametrize("data", [b"", b"x", TRICKY])
def test_the_file_length_from_the_body_length(size: int, data: bytes) -> None:
    """What a form's Content-Length leaves for its file (413 before the file is read, when
    over the limit), whatever the chunks the fields arrived in."""

    async def left(body: bytes) -> int:
        reader = FormReader(chunks(body, size), BOUNDARY)
        await reader.fields()
        return reader.file_length_if_last(len(body))

    assert asyncio.run(left(form({"key": "ses_1", "x": "y" * 100}, data))) == len(data)
