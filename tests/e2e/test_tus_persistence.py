"""What a tus upload is told, kept with its session across a server restart: the whole
`Upload-Metadata` (sent back on HEAD as the protocol asks), `filetype` (the file's MIME type
through the Apideck API), and a deferred length once a PATCH states it (later PATCHes need not
repeat it, and the last byte makes the file)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import Server, launch, start_server, stop_server
from tests.e2e.helpers import download
from tests.e2e.tus_helpers import OCTETS, TUS, append, file_named, metadata


def decoded(header: str) -> dict[str, str]:
    pairs = (item.split(" ") for item in header.split(","))
    return {k: base64.b64decode(v).decode() for k, v in pairs}


def restart(srv: Server) -> None:
    stop_server(srv)
    port = int(srv.base_url.rsplit(":", 1)[1])  # upload URLs name it
    srv.process = launch(srv.data_dir, port, srv.log)


@pytest.fixture
def srv(tmp_path: Path) -> Iterator[Server]:
    server = start_server(tmp_path)
    yield server
    stop_server(server)


def tus(srv: Server) -> httpx.Client:
    client = srv.client()
    client.headers.update(TUS)
    return client


def test_metadata_type_and_deferred_length_survive_a_restart(srv: Server) -> None:
    sent = {
        "filename": "report.dat",  # an extension that says nothing of the type
        "filetype": "text/csv",
        "relativePath": "null",  # what Uppy sends for a file picked alone
        "note": "ünïcode, with a comma",
    }
    with tus(srv) as client:
        res = client.post(
            "/uploads", headers={"Upload-Defer-Length": "1", "Upload-Metadata": metadata(**sent)}
        )
        assert res.status_code == 201, res.text
        url = res.headers["location"]
        res = append(client, url, 0, b"a,b\n", **{"Upload-Length": "10"})
        assert res.status_code == 204, res.text
        assert res.headers["upload-offset"] == "4"

    restart(srv)
    with tus(srv) as client:
        head = client.head(url)
        assert head.status_code == 200
        assert head.headers["upload-length"] == "10"
        assert "upload-defer-length" not in head.headers
        assert decoded(head.headers["upload-metadata"]) == sent
        # The length stated before the restart holds: a different one is refused.
        res = append(client, url, 4, b"1,2\n3\n", **{"Upload-Length": "12"})
        assert res.status_code == 400, res.text
        res = append(client, url, 4, b"1,2\n3\n")  # no Upload-Length: the stored one ends it
        assert res.status_code == 204, res.text
        assert res.headers["upload-offset"] == "10"
        entry = file_named(client, "report.dat")
        assert entry["mime_type"] == "text/csv"
        assert entry["size"] == 10
        got = download(client, str(entry["id"]))
        assert got.content == b"a,b\n1,2\n3\n"
        assert got.headers["content-type"].startswith("text/csv")
        head = client.head(url)
        assert (head.headers["upload-offset"], head.headers["upload-length"]) == ("10", "10")


def test_a_length_below_the_bytes_in_or_a_bad_filetype_is_refused(srv: Server) -> None:
    with tus(srv) as client:
        res = client.post(
            "/uploads",
            headers={"Upload-Length": "5", "Upload-Metadata": metadata(filetype="not a type")},
        )
        assert res.status_code == 400, res.text
        res = client.post(
            "/uploads",
            headers={"Upload-Defer-Length": "1", "Upload-Metadata": metadata(filename="s.bin")},
        )
        url = res.headers["location"]
        assert append(client, url, 0, b"12345678").status_code == 204
        res = client.patch(url, headers={**OCTETS, "Upload-Offset": "8", "Upload-Length": "6"})
        assert res.status_code == 400, res.text
        head = client.head(url)
        assert head.headers["upload-defer-length"] == "1" and head.headers["upload-offset"] == "8"


def test_a_file_without_filetype_keeps_the_type_its_name_gives(srv: Server) -> None:
    with tus(srv) as client:
        named = {"Upload-Length": "2", "Upload-Metadata": metadata(filename="a.json")}
        res = client.post("/uploads", content=b"{}", headers={**OCTETS, **named})
        assert res.status_code == 201, res.text
        assert file_named(client, "a.json")["mime_type"] == "application/json"
