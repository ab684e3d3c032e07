"""The IETF resumable-upload draft (interop versions 6 to 8) at /uploads over a real `partway
serve`, spoken with raw HTTP: creation with and without the whole body, HEAD offsets, appends
as application/partial-upload, the problem types, digests, cancellation. Bytes are read back
through the Apideck files API."""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterator

import httpx
import pytest
from awscrt import checksums

from tests.conftest import Server
from tests.e2e.tus_helpers import stored

PARTIAL = {"Content-Type": "application/partial-upload"}


@pytest.fixture(params=["6", "8"])
def client(request: pytest.FixtureRequest, server: Server) -> Iterator[httpx.Client]:
    with server.client() as c:
        c.headers["Upload-Draft-Interop-Version"] = request.param
        yield c


def digest_field(algorithm: str, data: bytes) -> str:
    if algorithm == "crc32c":
        value = checksums.crc32c(data).to_bytes(4, "big")
    else:
        value = hashlib.new({"sha": "sha1", "sha-256": "sha256"}[algorithm], data).digest()
    return f"{algorithm}=:{base64.b64encode(value).decode()}:"


def name_for(client: httpx.Client, stem: str) -> str:
    return f"{stem}-v{client.headers['Upload-Draft-Interop-Version']}.bin"


def test_options_announces_limits(client: httpx.Client) -> None:
    res = client.options("/uploads")
    assert res.status_code == 200
    assert "min-size=0" in res.headers["upload-limit"]


def test_whole_upload_in_the_creation_request(client: httpx.Client) -> None:
    payload = os.urandom(70_000)
    name = name_for(client, "whole")
    headers = {"Upload-Complete": "?1", "Content-Disposition": f'attachment; filename="{name}"'}
    res = client.post("/uploads", content=payload, headers=headers)
    assert res.status_code == 201, res.text
    assert res.headers["upload-complete"] == "?1"
    assert res.headers["upload-offset"] == str(len(payload))
    assert stored(client, name) == payload


def test_create_append_resume_and_complete(client: httpx.Client) -> None:
    payload = os.urandom(300_001)
    name = name_for(client, "appended")
    meta = "filename " + base64.b64encode(name.encode()).decode()
    res = client.post(
        "/uploads",
        content=payload[:1000],
        headers={"Upload-Complete": "?0", "Upload-Metadata": meta, "Upload-Length": "300001"},
    )
    assert res.status_code == 201, res.text
    url = res.headers["location"]
    assert res.headers["upload-offset"] == "1000"
    head = client.head(url)
    assert head.status_code == 204
    assert head.headers["upload-offset"] == "1000" and head.headers["upload-complete"] == "?0"
    assert head.headers["upload-length"] == "300001"
    assert int(head.headers["upload-limit"].split("max-age=")[1]) > 0
    # A stale offset: 409 with the draft's problem type and both offsets.
    res = client.patch(
        url, content=b"x", headers={**PARTIAL, "Upload-Offset": "0", "Upload-Complete": "?0"}
    )
    assert res.status_code == 409
    problem = res.json()
    assert problem["type"].endswith("#mismatching-upload-offset")
    assert (problem["expected-offset"], problem["provided-offset"]) == (1000, 0)
    middle = payload[1000:200_000]
    res = client.patch(
        url,
        content=middle,
        headers={
            **PARTIAL,
            "Upload-Offset": "1000",
            "Upload-Complete": "?0",
            "Content-Digest": digest_field("sha-256", middle),
        },
    )
    assert res.status_code == 204, res.text
    assert res.headers["upload-offset"] == "200000"
    # Completing with too few bytes contradicts the length: 400 inconsistent-upload-length.
    res = client.patch(
        url, content=b"", headers={**PARTIAL, "Upload-Offset": "200000", "Upload-Complete": "?1"}
    )
    assert res.status_code == 400 and res.json()["type"].endswith("#inconsistent-upload-length")
    rest = payload[200_000:]
    res = client.patch(
        url,
        content=rest,
        headers={
            **PARTIAL,
            "Upload-Offset": "200000",
            "Upload-Complete": "?1",
            "Repr-Digest": digest_field("sha", payload),
        },
    )
    assert res.status_code == 200, res.text
    assert res.headers["upload-complete"] == "?1" and res.headers["upload-offset"] == "300001"
    assert stored(client, name) == payload
    head = client.head(url)
    assert head.headers["upload-complete"] == "?1" and head.headers["upload-offset"] == "300001"


def test_content_digest_mismatch_keeps_nothing(client: httpx.Client) -> None:
    res = client.post("/uploads", headers={"Upload-Complete": "?0"})
    assert res.status_code == 201, res.text
    url = res.headers["location"]
    res = client.patch(
        url,
        content=b"abc",
        headers={**PARTIAL, "Upload-Offset": "0", "Upload-Complete": "?0",
                 "Content-Digest": digest_field("sha-256", b"abd")},
    )  # fmt: skip
    assert res.status_code == 400
    assert client.head(url).headers["upload-offset"] == "0"
    assert client.delete(url).status_code == 204
    assert client.head(url).status_code == 404


def test_crc32c_content_and_repr_digests(client: httpx.Client) -> None:
    """RFC 9530 fields with crc32c (what partway's own clients send): a wrong Content-Digest
    keeps nothing; right ones make the file."""
    named = {
        "Upload-Metadata": "filename " + base64.b64encode(name_for(client, "crc").encode()).decode()
    }
    res = client.post("/uploads", headers={"Upload-Complete": "?0", **named})
    url = res.headers["location"]
    wrong = {"Content-Digest": digest_field("crc32c", b"abd")}
    res = client.patch(
        url,
        content=b"abc",
        headers={**PARTIAL, "Upload-Offset": "0", "Upload-Complete": "?0", **wrong},
    )
    assert res.status_code == 400, res.text
    assert client.head(url).headers["upload-offset"] == "0"
    right = {"Content-Digest": digest_field("crc32c", b"abc")}
    res = client.patch(
        url,
        content=b"abc",
        headers={**PARTIAL, "Upload-Offset": "0", "Upload-Complete": "?0", **right},
    )
    assert res.status_code == 204, res.text
    whole = {"Repr-Digest": digest_field("crc32c", b"abcdef")}
    res = client.patch(
        url,
        content=b"def",
        headers={**PARTIAL, "Upload-Offset": "3", "Upload-Complete": "?1", **whole},
    )
    assert res.status_code == 200, res.text
    assert stored(client, name_for(client, "crc")) == b"abcdef"
