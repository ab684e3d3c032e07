"""The draft's `104 Upload Resumption Supported` (interop 8), read by a raw-HTTP client: it
arrives with the upload's URL before the body is sent, so a client cut off mid-body resumes at
that URL (HEAD for the offset, then an append), and the bytes are read back through the Apideck
API. Needs partway's own HTTP protocol (uvicorn's stock one cannot send a 1xx of our choice)."""

from __future__ import annotations

import base64
import os
from urllib.parse import urlsplit

import pytest

from tests.conftest import Server
from tests.e2e.helpers import download
from tests.e2e.raw import Raw, request_head

pytestmark = pytest.mark.edge_protocol
DRAFT = {"Upload-Draft-Interop-Version": "8", "Upload-Complete": "?1"}


def named(name: str) -> dict[str, str]:
    return {"Upload-Metadata": "filename " + base64.b64encode(name.encode()).decode()}


def stored(server: Server, name: str) -> bytes:
    with server.client() as client:
        res = client.get("/file-storage/files", params={"filter[folder_id]": "root"})
        ids = [f["id"] for f in res.json()["data"] if f["name"] == name]
        assert len(ids) == 1, res.json()["data"]
        return download(client, ids[0]).content


def test_104_comes_before_the_body_is_sent(server: Server) -> None:
    payload = os.urandom(200_000)
    raw = Raw(server)
    try:
        raw.sock.sendall(
            request_head(raw.headers, "POST", "/uploads", len(payload), **DRAFT, **named("a.bin"))
        )
        status, headers, _ = raw.response()  # nothing of the body sent yet
        assert status == 104
        assert urlsplit(headers["location"]).path.startswith("/uploads/ses_")  # Host: test
        assert headers["upload-draft-interop-version"] == "8"
        raw.sock.sendall(payload)
        status, final, _ = raw.response()
        assert status == 201
        assert final["location"] == headers["location"]
        assert final["upload-complete"] == "?1"
    finally:
        raw.sock.close()
    assert stored(server, "a.bin") == payload


def test_a_client_cut_off_resumes_at_the_104_location(server: Server) -> None:
    payload = os.urandom(3 * 1024 * 1024)
    raw = Raw(server)
    try:
        raw.sock.sendall(
            request_head(raw.headers, "POST", "/uploads", len(payload), **DRAFT, **named("b.bin"))
        )
        status, headers, _ = raw.response()
        assert status == 104
        raw.sock.sendall(payload[: len(payload) // 2])
    finally:
        raw.sock.close()  # the connection drops mid-body
    url = server.base_url + urlsplit(headers["location"]).path
    with server.client() as client:
        client.headers["Upload-Draft-Interop-Version"] = "8"
        for _ in range(100):  # the server notices the drop on its own time
            head = client.head(url)
            if head.status_code == 204:
                break
        assert head.status_code == 204, head.text
        assert head.headers["upload-complete"] == "?0"
        offset = int(head.headers["upload-offset"])
        assert offset <= len(payload) // 2  # durable bytes only
        res = client.patch(
            url,
            content=payload[offset:],
            headers={
                "Content-Type": "application/partial-upload",
                "Upload-Offset": str(offset),
                "Upload-Complete": "?1",
            },
        )
        assert res.status_code == 200, res.text
    assert stored(server, "b.bin") == payload
