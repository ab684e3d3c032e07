"""tus v1.0.0 at /uploads over a real `partway serve`, spoken with raw HTTP: creation (with
upload, deferred length), offsets by HEAD, appends, checksums, termination, expiration; each
upload's bytes are read back through the Apideck files API."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import time
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from pathlib import Path

import httpx
import pytest
from awscrt import checksums

from tests.conftest import Server, start_server, stop_server
from tests.e2e.tus_helpers import OCTETS, TUS, append, create, metadata, stored, tus_client

MIB = 1024 * 1024


@pytest.fixture
def client(server: Server) -> Iterator[httpx.Client]:
    yield from tus_client(server)


def test_options_announces_every_extension_with_200(server: Server) -> None:
    res = httpx.options(server.base_url + "/uploads")
    assert res.status_code == 200
    assert res.headers["tus-version"] == "1.0.0"
    assert set(res.headers["tus-extension"].split(",")) == {
        "creation",
        "creation-with-upload",
        "creation-defer-length",
        "termination",
        "expiration",
        "checksum",
        "concatenation",
    }
    assert "sha1" in res.headers["tus-checksum-algorithm"].split(",")


def test_upload_in_appends_then_head_and_download(client: httpx.Client) -> None:
    payload = os.urandom(3 * 1024 * 1024 + 17)
    url = create(client, "appended.bin", **{"Upload-Length": str(len(payload))})
    head = client.head(url)
    assert head.status_code == 200
    assert (head.headers["upload-offset"], head.headers["upload-length"]) == (
        "0",
        str(len(payload)),
    )
    assert head.headers["cache-control"] == "no-store"
    offset = 0
    for size in (1, 1024 * 1024 - 1, 777_777):  # arbitrary, unaligned appends
        res = append(client, url, offset, payload[offset : offset + size])
        assert res.status_code == 204, res.text
        offset += size
        assert res.headers["upload-offset"] == str(offset)
        assert res.headers["tus-resumable"] == "1.0.0"
    assert client.head(url).headers["upload-offset"] == str(offset)
    res = append(client, url, offset, payload[offset:])
    assert res.status_code == 204 and res.headers["upload-offset"] == str(len(payload))
    assert stored(client, "appended.bin") == payload
    # Finished: HEAD still says done, as a resuming client needs.
    head = client.head(url)
    assert head.status_code == 200 and head.headers["upload-offset"] == str(len(payload))


def test_wrong_offset_is_409_and_changes_nothing(client: httpx.Client) -> None:
    url = create(client, "offsets.bin", **{"Upload-Length": "10"})
    assert append(client, url, 0, b"abcd").status_code == 204
    for wrong in (0, 2, 5):
        res = append(client, url, wrong, b"xy")
        assert res.status_code == 409, res.text
    assert client.head(url).headers["upload-offset"] == "4"
    assert append(client, url, 4, b"efghijklmn").status_code == 413  # past Upload-Length
    assert append(client, url, 4, b"efghij").status_code == 204
    assert stored(client, "offsets.bin") == b"abcdefghij"


def test_checksum_mismatch_is_460_offset_unchanged(client: httpx.Client) -> None:
    url = create(client, "checked.bin", **{"Upload-Length": "8"})
    good = base64.b64encode(hashlib.sha1(b"1234").digest()).decode()
    res = append(client, url, 0, b"1235", **{"Upload-Checksum": f"sha1 {good}"})
    assert res.status_code == 460, res.text
    assert client.head(url).headers["upload-offset"] == "0"
    res = append(client, url, 0, b"1234", **{"Upload-Checksum": f"sha1 {good}"})
    assert res.status_code == 204
    res = append(client, url, 4, b"5678", **{"Upload-Checksum": "md5 AAAA"})
    assert res.status_code == 400
    assert append(client, url, 4, b"5678").status_code == 204
    assert stored(client, "checked.bin") == b"12345678"


def test_creation_with_upload_and_expiry(client: httpx.Client) -> None:
    payload = os.urandom(100_000)
    headers = {"Upload-Length": str(len(payload)), "Upload-Metadata": metadata(filename="one.bin")}
    res = client.post("/uploads", content=payload, headers={**OCTETS, **headers})
    assert res.status_code == 201, res.text
    assert res.headers["upload-offset"] == str(len(payload))
    assert parsedate_to_datetime(res.headers["upload-expires"]).tzinfo is not None
    assert stored(client, "one.bin") == payload


def test_deferred_length(client: httpx.Client) -> None:
    url = create(client, "streamed.bin", **{"Upload-Defer-Length": "1"})
    head = client.head(url)
    assert head.headers["upload-defer-length"] == "1" and "upload-length" not in head.headers
    assert append(client, url, 0, b"hello ").status_code == 204
    res = append(client, url, 6, b"world", **{"Upload-Length": "11"})
    assert res.status_code == 204 and res.headers["upload-offset"] == "11"
    assert stored(client, "streamed.bin") == b"hello world"
    assert client.head(url).headers["upload-length"] == "11"


def test_termination_is_204_then_404(client: httpx.Client) -> None:
    url = create(client, "gone.bin", **{"Upload-Length": "5"})
    assert append(client, url, 0, b"ab").status_code == 204
    res = client.delete(url)
    assert res.status_code == 204
    assert client.head(url).status_code == 404
    assert append(client, url, 2, b"cde").status_code == 404


def test_session_is_an_apideck_session_meanwhile(client: httpx.Client) -> None:
    url = create(client, "visible.bin", **{"Upload-Length": "6", "Upload-Metadata": ""})
    session_id = url.rsplit("/", 1)[1]
    assert append(client, url, 0, b"abc").status_code == 204
    res = client.get(f"/file-storage/upload-sessions/{session_id}")
    assert res.status_code == 200, res.text
    assert res.json()["data"]["size"] == 6


def test_refusals(server: Server, client: httpx.Client) -> None:
    assert client.post("/uploads", headers={"Tus-Resumable": "0.2.2"}).status_code == 412
    assert client.post("/uploads").status_code == 400  # neither length nor deferral
    url = create(client, "typed.bin", **{"Upload-Length": "3"})
    res = client.patch(url, content=b"abc", headers={"Upload-Offset": "0"})
    assert res.status_code == 415
    bare = httpx.post(server.base_url + "/uploads", headers={**TUS, "Upload-Length": "3"})
    assert bare.status_code == 401
    taken = client.post(
        "/uploads",
        headers={"Upload-Length": "3", "Upload-Metadata": metadata(filename="typed.bin")},
    )
    assert taken.status_code == 409
    res = client.post(url, headers={"X-HTTP-Method-Override": "DELETE"})
    assert res.status_code == 204


def test_concatenation_of_arbitrary_pieces(client: httpx.Client) -> None:
    pieces = [os.urandom(n) for n in (3, 100_001, 1)]
    urls = []
    for piece in pieces:
        res = client.post(
            "/uploads", headers={"Upload-Concat": "partial", "Upload-Length": str(len(piece))}
        )
        assert res.status_code == 201, res.text
        urls.append(res.headers["location"])
    early = {
        "Upload-Concat": "final;" + " ".join(urls),
        "Upload-Metadata": metadata(filename="joined.bin"),
    }
    assert client.post("/uploads", headers=early).status_code == 403  # pieces not complete yet
    for url, piece in zip(urls, pieces, strict=True):
        res = append(client, url, 0, piece, **{"Upload-Concat": "partial"})
        assert res.status_code == 204, res.text
        assert client.head(url).headers["upload-offset"] == str(len(piece))
    relative = urls[1].split("://", 1)[1].split("/", 1)[1]  # a path works as well as a URL
    final = {**early, "Upload-Concat": f"final;{urls[0]} /{relative} {urls[2]}"}
    res = client.post("/uploads", headers=final)
    assert res.status_code == 201, res.text
    assert stored(client, "joined.bin") == b"".join(pieces)
    head = client.head(res.headers["location"])
    assert head.headers["upload-offset"] == str(sum(map(len, pieces)))
    assert client.head(urls[0]).status_code == 404  # pieces are removed, never files


def test_cors_allows_and_exposes_the_tus_headers(tmp_path: Path) -> None:
    origin = "https://app.example"
    srv = start_server(tmp_path / "cors", {"PARTWAY_CORS_ORIGINS": json.dumps([origin])})
    try:
        preflight = {
            "Origin": origin,
            "Access-Control-Request-Method": "PATCH",
            "Access-Control-Request-Headers": "tus-resumable,upload-offset,content-type",
        }
        pre = httpx.options(srv.base_url + "/uploads/ses_0123456789abcdef", headers=preflight)
        assert pre.status_code == 200
        assert "PATCH" in pre.headers["access-control-allow-methods"]
        headers = {**srv.headers(), **TUS, "Origin": origin, "Upload-Length": "1"}
        res = httpx.post(srv.base_url + "/uploads", headers=headers)
        assert res.status_code == 201, res.text
        exposed = {
            h.strip().lower() for h in res.headers["access-control-expose-headers"].split(",")
        }
        assert {"location", "upload-offset", "upload-length", "tus-resumable"} <= exposed
        assert {"upload-metadata", "upload-concat", "upload-complete", "upload-limit"} <= exposed
    finally:
        stop_server(srv)


def test_a_silent_patch_body_is_cut_with_408_and_the_offset_stays(tmp_path: Path) -> None:
    """PATCH bodies take the bounded body path of Apideck parts: a silent client is cut."""
    srv = start_server(tmp_path / "slow", {"PARTWAY_BODY_TIMEOUT_SECONDS": "2"})
    try:
        with srv.client() as client:
            client.headers.update(TUS)
            url = create(client, "silent.bin", **{"Upload-Length": str(MIB)})
            host, port = srv.base_url.removeprefix("http://").split(":")
            path = url.split(srv.base_url, 1)[1]
            lines = [f"PATCH {path} HTTP/1.1", f"Host: {host}:{port}", f"Content-Length: {MIB}"]
            lines += [f"{k}: {v}" for k, v in {**srv.headers(), **TUS, **OCTETS}.items()]
            lines += ["Upload-Offset: 0", "", ""]
            with socket.create_connection((host, int(port)), timeout=15) as sock:
                sock.sendall("\r\n".join(lines).encode() + b"x" * 1000)  # then silence
                began = time.monotonic()
                reply = sock.recv(65536)
            assert reply.startswith(b"HTTP/1.1 408 "), reply[:200]
            assert b"tus-resumable: 1.0.0" in reply.lower()
            assert time.monotonic() - began < 6
            assert client.head(url).headers["upload-offset"] == "0"
            payload = os.urandom(MIB)
            assert append(client, url, 0, payload).status_code == 204
            assert stored(client, "silent.bin") == payload
    finally:
        stop_server(srv)


def test_crc32c_checksums(server: Server, client: httpx.Client) -> None:
    """`Upload-Checksum: crc32c` (offered first: the fastest) checked like sha1."""
    algorithms = httpx.options(server.base_url + "/uploads").headers["tus-checksum-algorithm"]
    assert algorithms.split(",") == ["crc32c", "sha1", "sha256"]
    url = create(client, "crc.bin", **{"Upload-Length": "8"})
    crc = base64.b64encode(checksums.crc32c(b"1234").to_bytes(4, "big")).decode()
    res = append(client, url, 0, b"1235", **{"Upload-Checksum": f"crc32c {crc}"})
    assert res.status_code == 460, res.text
    assert client.head(url).headers["upload-offset"] == "0"
    assert (
        append(client, url, 0, b"1234", **{"Upload-Checksum": f"CRC32C {crc}"}).status_code == 204
    )
    res = append(client, url, 4, b"5678", **{"Upload-Checksum": "crc32c not-base64!"})
    assert res.status_code == 400, res.text
    assert append(client, url, 4, b"5678").status_code == 204
    assert stored(client, "crc.bin") == b"12345678"
