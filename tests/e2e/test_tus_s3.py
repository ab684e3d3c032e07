"""tus and the IETF draft on S3 (Ceph RGW, or moto) over a real `partway serve`: appends of any
size are cut on the session's 5 MiB grid into parts, the short trailing piece is kept as a tail
object and put before the next append's bytes, HEAD reports only durable bytes, a body cut off
keeps the parts it filled, and concatenation joins pieces. Each upload's bytes are read back
through the Apideck files API, and no tail object outlives its upload."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.backends import new_s3_url, s3_keys
from tests.conftest import Server, assert_clean_log, start_server, stop_server
from tests.e2e.tus_helpers import OCTETS, TUS, append, create, metadata, stored, tus_client

MIB = 1024 * 1024
PART = 5 * MIB
PARTIAL = {"Content-Type": "application/partial-upload"}


@pytest.fixture(scope="module")
def storage_url() -> str:
    return new_s3_url()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, storage_url: str) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("tus-s3")
    env = {
        "PARTWAY_STORAGE": json.dumps({"s3": storage_url}),
        "PARTWAY_DEFAULT_SERVICE": "s3",
        "PARTWAY_DEFAULT_PART_SIZE": str(PART),
    }
    srv = start_server(tmp, env)
    yield srv
    stop_server(srv)
    assert_clean_log(srv)


@pytest.fixture
def client(server: Server) -> Iterator[httpx.Client]:
    yield from tus_client(server)


def offset(client: httpx.Client, url: str) -> int:
    res = client.head(url)
    assert res.status_code in (200, 204), res.text
    return int(res.headers["upload-offset"])


def tails(storage_url: str) -> set[str]:
    return {key for key in s3_keys(storage_url) if ".tail." in key}


def test_unaligned_patches_resumed_after_head(client: httpx.Client, storage_url: str) -> None:
    payload = os.urandom(2 * PART + 1_234_567)
    url = create(client, "tus-s3.bin", **{"Upload-Length": str(len(payload))})
    at = 0
    # Below a part, across the first grid line, across two at once: none aligned to 5 MiB.
    for size in (3 * MIB + 1, 4 * MIB + 7, 777_777):
        assert offset(client, url) == at  # resumed from what HEAD says each time
        res = append(client, url, at, payload[at : at + size])
        assert res.status_code == 204, res.text
        at += size
        assert res.headers["upload-offset"] == str(at)
        assert len(tails(storage_url)) == 1  # the bytes past the last whole part
    assert offset(client, url) == at
    res = append(client, url, at, payload[at:])
    assert res.status_code == 204, res.text
    assert res.headers["upload-offset"] == str(len(payload))
    assert stored(client, "tus-s3.bin") == payload
    assert offset(client, url) == len(payload)
    assert not tails(storage_url)


def test_a_cut_body_keeps_the_parts_it_filled(server: Server, client: httpx.Client) -> None:
    payload = os.urandom(PART + 3 * MIB)
    url = create(client, "cut-s3.bin", **{"Upload-Length": str(len(payload))})
    assert append(client, url, 0, payload[: 3 * MIB]).status_code == 204
    host, port = server.base_url.removeprefix("http://").split(":")
    path = url.split(server.base_url, 1)[1]
    lines = [f"PATCH {path} HTTP/1.1", f"Host: {host}:{port}", f"Content-Length: {5 * MIB}"]
    lines += [f"{k}: {v}" for k, v in {**server.headers(), **TUS, **OCTETS}.items()]
    lines += [f"Upload-Offset: {3 * MIB}", "", ""]
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        # The 3 MiB tail and 3 MiB of these fill the first part; the rest never comes.
        sock.sendall("\r\n".join(lines).encode() + payload[3 * MIB : 6 * MIB])
        time.sleep(1)
    deadline = time.monotonic() + 20
    while (at := offset(client, url)) != PART and time.monotonic() < deadline:
        time.sleep(0.2)
    assert at == PART
    assert append(client, url, at, payload[at:]).status_code == 204
    assert stored(client, "cut-s3.bin") == payload


def test_deferred_length_and_a_tail_left_at_finish(client: httpx.Client, storage_url: str) -> None:
    payload = os.urandom(PART + 100_000)
    url = create(client, "deferred-s3.bin", **{"Upload-Defer-Length": "1"})
    assert append(client, url, 0, payload[:4_000_000]).status_code == 204
    assert append(client, url, 4_000_000, payload[4_000_000:]).status_code == 204
    assert offset(client, url) == len(payload)  # the part, and a tail of 100,000 bytes
    # The length stated last, with no bytes: the tail becomes the last part at finish.
    res = append(client, url, len(payload), b"", **{"Upload-Length": str(len(payload))})
    assert res.status_code == 204, res.text
    assert stored(client, "deferred-s3.bin") == payload
    assert not tails(storage_url)


def test_draft_upload_resumed_after_head(server: Server, storage_url: str) -> None:
    payload = os.urandom(2 * PART + 54_321)
    name = "draft-s3.bin"
    with server.client() as client:
        client.headers["Upload-Draft-Interop-Version"] = "6"
        meta = "filename " + base64.b64encode(name.encode()).decode()
        res = client.post(
            "/uploads",
            content=payload[:1000],
            headers={"Upload-Complete": "?0", "Upload-Metadata": meta},
        )
        assert res.status_code == 201, res.text
        url = res.headers["location"]
        at = 1000
        for size in (PART, 2 * MIB + 3):
            assert offset(client, url) == at
            headers = {**PARTIAL, "Upload-Offset": str(at), "Upload-Complete": "?0"}
            res = client.patch(url, content=payload[at : at + size], headers=headers)
            assert res.status_code == 204, res.text
            at += size
            assert res.headers["upload-offset"] == str(at)
        assert offset(client, url) == at
        headers = {**PARTIAL, "Upload-Offset": str(at), "Upload-Complete": "?1"}
        res = client.patch(url, content=payload[at:], headers=headers)
        assert res.status_code == 200, res.text
        assert res.headers["upload-offset"] == str(len(payload))
        head = client.head(url)
        assert head.headers["upload-complete"] == "?1"
    with server.client() as apideck:
        assert stored(apideck, name) == payload
    assert not tails(storage_url)


@pytest.mark.parametrize(
    "sizes",
    [
        (PART + 3, 2 * MIB + 1, 7),  # part 1 copied by the store from piece 1; part 2 streamed
        (3, 2 * PART, 7),  # part 2 copied from the middle of piece 2; parts 1 and 3 streamed
    ],
)
def test_concatenation_of_pieces_on_s3(
    client: httpx.Client, storage_url: str, sizes: tuple[int, ...]
) -> None:
    pieces = [os.urandom(n) for n in sizes]
    urls = []
    for piece in pieces:
        headers = {"Upload-Concat": "partial", "Upload-Length": str(len(piece))}
        res = client.post("/uploads", headers=headers)
        assert res.status_code == 201, res.text
        urls.append(res.headers["location"])
        half = len(piece) // 2
        for start, end in ((0, half), (half, len(piece))):
            res = append(client, urls[-1], start, piece[start:end], **{"Upload-Concat": "partial"})
            assert res.status_code == 204, res.text
    final = {
        "Upload-Concat": "final;" + " ".join(urls),
        "Upload-Metadata": metadata(filename=f"joined-{sizes[0]}.bin"),
    }
    res = client.post("/uploads", headers=final)
    assert res.status_code == 201, res.text
    assert stored(client, f"joined-{sizes[0]}.bin") == b"".join(pieces)
    assert client.head(urls[0]).status_code == 404  # pieces are removed, never files
    assert not tails(storage_url)


def test_a_checksum_mismatch_keeps_the_tail_and_offset(
    client: httpx.Client, storage_url: str
) -> None:
    payload = os.urandom(PART + 4321)
    url = create(client, "checked-s3.bin", **{"Upload-Length": str(len(payload))})
    assert append(client, url, 0, payload[:MIB]).status_code == 204
    rest = payload[MIB:]
    wrong = "sha1 " + base64.b64encode(hashlib.sha1(b"other bytes").digest()).decode()
    res = append(client, url, MIB, rest, **{"Upload-Checksum": wrong})
    assert res.status_code == 460, res.text
    assert offset(client, url) == MIB  # the recorded tail is still there and still counts
    right = "sha1 " + base64.b64encode(hashlib.sha1(rest).digest()).decode()
    assert append(client, url, MIB, rest, **{"Upload-Checksum": right}).status_code == 204
    assert stored(client, "checked-s3.bin") == payload
    assert not tails(storage_url)
