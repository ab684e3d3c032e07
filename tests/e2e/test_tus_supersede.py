"""A newer request for an upload stops an older append still running for it (the draft's rule,
applied to tus too): a client whose connection died mid-PATCH asks the offset again and resends
at once, instead of waiting for the dead connection's body deadline (60 s here) or the range
lock's timeout. The older append's bytes are not recorded. Needs partway's own HTTP protocol
(it reads the body from the socket, which is how the older request is stopped)."""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import Server, start_server, stop_server
from tests.e2e.helpers import download
from tests.e2e.raw import Raw, request_head
from tests.e2e.tus_helpers import OCTETS, TUS

pytestmark = pytest.mark.edge_protocol


@pytest.fixture
def srv(tmp_path: Path) -> Iterator[Server]:
    server = start_server(tmp_path, {"PARTWAY_BODY_MIN_RATE": "0"})  # a stall is not cut early
    yield server
    stop_server(server)


def test_a_newer_request_stops_the_stalled_append(srv: Server) -> None:
    payload = os.urandom(1024 * 1024)
    with srv.client() as client:
        client.headers.update(TUS)
        name = base64.b64encode(b"stalled.bin").decode()
        res = client.post(
            "/uploads",
            headers={"Upload-Length": str(len(payload)), "Upload-Metadata": f"filename {name}"},
        )
        path = res.headers["location"].removeprefix(srv.base_url)

        stalled = Raw(srv)
        try:
            head = request_head(
                stalled.headers,
                "PATCH",
                path,
                len(payload),
                **TUS,
                **OCTETS,
                **{"Upload-Offset": "0"},
            )
            stalled.sock.sendall(head + payload[:300_000])  # then nothing more: a dead client
            time.sleep(1.0)  # the append is under way, holding its range lock

            started = time.monotonic()
            offset = client.head(path).headers["upload-offset"]
            assert offset == "0"  # the stopped append's bytes were not recorded
            res = client.patch(path, content=payload, headers={**OCTETS, "Upload-Offset": "0"})
            assert res.status_code == 204, res.text
            assert time.monotonic() - started < 10  # not the 60 s body deadline
            stalled.sock.settimeout(10)
            assert stalled.sock.recv(65536) == b""  # the older request's connection was shut
        finally:
            stalled.sock.close()
        res = client.get("/file-storage/files", params={"filter[folder_id]": "root"})
        (entry,) = [f for f in res.json()["data"] if f["name"] == "stalled.bin"]
        assert download(client, entry["id"]).content == payload


def test_a_head_with_no_append_running_changes_nothing(srv: Server) -> None:
    with httpx.Client(base_url=srv.base_url, headers={**srv.headers(), **TUS}) as client:
        res = client.post("/uploads", headers={"Upload-Length": "3"})
        url = res.headers["location"]
        assert client.head(url).headers["upload-offset"] == "0"
        assert (
            client.patch(url, content=b"abc", headers={**OCTETS, "Upload-Offset": "0"}).status_code
            == 204
        )
        assert client.head(url).headers["upload-offset"] == "3"
