"""The store's own full-object CRC32C, over a real `partway serve` on a moto S3 server of the
test's own (RGW 16.2, the S3 of record, keeps none: tests/contract/test_s3_checksums.py). A finish
compares the store's CRC32C with the one partway combined from the parts it verified; when they
disagree (here partway's record of a part is altered behind its back) the finish fails with an
Apideck error, no file is made, and the session takes the part again and finishes."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator

import httpx
import pytest

from tests.backends import BUCKET, moto_endpoint, new_moto_url, s3_client
from tests.conftest import Server, assert_clean_log, start_server, stop_server

from .helpers import (
    MIB,
    assert_error,
    crc32c_header,
    create_session,
    download,
    finish,
    get_session,
    put_part,
)

PART = 5 * MIB


@pytest.fixture(scope="module")
def storage_url() -> str:
    return new_moto_url()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, storage_url: str) -> Iterator[Server]:
    env = {
        "PARTWAY_STORAGE": json.dumps({"s3": storage_url}),
        "PARTWAY_DEFAULT_SERVICE": "s3",
        "PARTWAY_DEFAULT_PART_SIZE": str(PART),
    }
    srv = start_server(tmp_path_factory.mktemp("s3-full-object"), env)
    yield srv
    stop_server(srv)
    assert_clean_log(srv)


@pytest.fixture
def client(server: Server) -> httpx.Client:
    return server.client()


def send_parts(client: httpx.Client, name: str, payload: bytes) -> str:
    session_id = create_session(client, name, len(payload))
    for number, start in enumerate(range(0, len(payload), PART)):
        part = payload[start : start + PART]
        res = put_part(client, session_id, number, part, digest=crc32c_header(part))
        assert res.status_code == 200, res.text
    return session_id


def stored_crc32cs(storage_url: str, size: int) -> list[str]:
    """The store's own CRC32Cs (base64) of the objects of `size` bytes under the URL's prefix."""
    prefix = storage_url.split("?", 1)[0].removeprefix(f"s3://{BUCKET}/") + "/"
    client = s3_client(moto_endpoint())
    found = []
    for obj in client.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", []):
        if obj["Size"] == size:
            head = client.head_object(Bucket=BUCKET, Key=obj["Key"], ChecksumMode="ENABLED")
            found.append(str(head.get("ChecksumCRC32C")))
    return found


def test_the_file_crc32c_is_the_store_s(client: httpx.Client, storage_url: str) -> None:
    payload = os.urandom(PART + 4321)
    res = finish(client, send_parts(client, "agreed.bin", payload))
    assert res.status_code == 201, res.text
    want = crc32c_header(payload).removeprefix("crc32c=")
    assert res.json()["data"]["checksums"] == {"crc32c": want}
    assert stored_crc32cs(storage_url, len(payload)) == [want]


def test_parts_without_digests_get_the_store_s_crc32c(client: httpx.Client) -> None:
    """No part came with a digest, so partway has no CRC32C of its own: the file gets the
    store's, and a whole-file crc32c digest is checked against it."""
    payload = os.urandom(PART + 99)
    session_id = create_session(client, "undigested.bin", len(payload))
    for number, start in enumerate(range(0, len(payload), PART)):
        res = put_part(client, session_id, number, payload[start : start + PART])
        assert res.status_code == 200, res.text
    assert_error(finish(client, session_id, digest=crc32c_header(payload[1:])), 400)
    res = finish(client, session_id, digest=crc32c_header(payload))
    assert res.status_code == 201, res.text
    want = crc32c_header(payload).removeprefix("crc32c=")
    assert res.json()["data"]["checksums"] == {"crc32c": want}


def test_a_store_that_disagrees_fails_the_finish(server: Server, client: httpx.Client) -> None:
    payload = os.urandom(PART + 777)
    session_id = send_parts(client, "disputed.bin", payload)
    # partway's record of part 0 altered behind its back: the store holds other bytes than
    # partway says it verified.
    with sqlite3.connect(server.data_dir / "partway.db") as db:
        (crc,) = db.execute(
            "SELECT crc32c FROM upload_ranges WHERE session_id = ? AND start = 0", (session_id,)
        ).fetchone()
        altered = f"{int(crc, 16) ^ 0x80:08x}"
        db.execute(
            "UPDATE upload_ranges SET crc32c = ? WHERE session_id = ? AND start = 0",
            (altered, session_id),
        )
    body = assert_error(finish(client, session_id), 400, "RequestValidationError")
    theirs = crc32c_header(payload).removeprefix("crc32c=")  # what the store really holds
    assert body["message"].startswith(f"the store's CRC32C of the assembled file ({theirs})")
    listed = client.get("/file-storage/files", params={"filter[folder_id]": "root"})
    assert "disputed.bin" not in {f["name"] for f in listed.json()["data"]}
    assert get_session(client, session_id)["uploaded_parts"] == [0, 1]  # taken again
    part = payload[:PART]
    assert put_part(client, session_id, 0, part, digest=crc32c_header(part)).status_code == 200
    res = finish(client, session_id)
    assert res.status_code == 201, res.text
    assert download(client, res.json()["data"]["id"]).content == payload
