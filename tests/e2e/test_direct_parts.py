"""Direct parts (partway extension, issue #20): a session created in direct mode has its client
PUT each part straight into the object store over the URLs partway signs, on S3 (Ceph RGW or
moto) and Azure (Azurite); partway receives none of the bytes, and its finish checks the
store's account of the parts."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.backends import BUCKET, Backend, make_backend, s3_client
from tests.conftest import assert_clean_log, start_server, stop_server

from .helpers import MIB, create_session, download

PART = 5 * MIB
SESSIONS = "/file-storage/upload-sessions"
DIRECT = {"x-partway-upload-mode": "direct"}


def received_bytes(base_url: str) -> float:
    """partway's own counter of request body bytes."""
    text = httpx.get(base_url + "/metrics").text
    found = re.search(r"^partway_http_received_bytes_total (\S+)$", text, re.MULTILINE)
    assert found is not None
    return float(found.group(1))


def tickets(client: httpx.Client, session_id: str) -> list[dict[str, Any]]:
    res = client.get(f"{SESSIONS}/{session_id}/direct")
    assert res.status_code == 200, res.text
    parts: list[dict[str, Any]] = res.json()["data"]["parts"]
    return parts


def tamper_part(backend: Backend, number: int, data: bytes) -> None:
    """Write part `number` (S3's numbering, from 1) of the one unfinished upload under the
    backend's prefix behind partway's back, as a client holding the store's keys could."""
    client = s3_client(os.environ["PARTWAY_TEST_S3_ENDPOINT"])
    prefix = backend.storage_url.split("?", 1)[0].removeprefix(f"s3://{BUCKET}/") + "/"
    (upload,) = client.list_multipart_uploads(Bucket=BUCKET, Prefix=prefix)["Uploads"]
    client.upload_part(
        Bucket=BUCKET, Key=upload["Key"], UploadId=upload["UploadId"], PartNumber=number, Body=data
    )


def put_direct(part: dict[str, Any], data: bytes) -> None:
    res = httpx.put(part["url"], content=data, headers=part["headers"], timeout=60)
    assert res.is_success, res.text


@pytest.mark.parametrize("combination", ["s3+postgres", "azure+postgres"])
def test_parts_go_straight_to_the_store_and_finish_checks_them(
    tmp_path: Path, combination: str
) -> None:
    backend = make_backend(combination, tmp_path)
    server = start_server(tmp_path, {**backend.env(), "PARTWAY_DEFAULT_PART_SIZE": str(PART)})
    try:
        with server.client() as api:
            payload = os.urandom(3 * PART + 4321)
            session_id = create_session(api, "direct.bin", len(payload), headers=DIRECT)
            before = received_bytes(server.base_url)
            parts = tickets(api, session_id)
            assert [p["part_number"] for p in parts] == [0, 1, 2, 3]
            assert [p["size"] for p in parts] == [PART, PART, PART, 4321]
            for part in reversed(parts):
                put_direct(part, payload[part["offset"] : part["offset"] + part["size"]])
            done = api.post(f"{SESSIONS}/{session_id}/direct/finish")
            assert done.status_code == 201, done.text
            # The request bodies partway received in all that: none (the finish had no body).
            assert received_bytes(server.base_url) == before
            got = download(api, done.json()["data"]["id"])
            assert hashlib.sha256(got.content).digest() == hashlib.sha256(payload).digest()

            # A tampered part (short by one byte) makes finish refuse, naming it; sent again
            # whole, the finish goes through.
            payload = os.urandom(2 * PART)
            session_id = create_session(api, "tampered.bin", len(payload), headers=DIRECT)
            parts = tickets(api, session_id)
            put_direct(parts[0], payload[:PART])
            short = payload[PART : 2 * PART - 1]
            if backend.service_id == "s3":
                # The URL is signed for the part's size: the store itself refuses a short body,
                # so the short part comes from a writer holding the store's own keys.
                assert httpx.put(parts[1]["url"], content=short).status_code == 403
                tamper_part(backend, 2, short)
            else:
                put_direct(parts[1], short)  # a SAS signs no length
            refused = api.post(f"{SESSIONS}/{session_id}/direct/finish")
            assert refused.status_code == 400, refused.text
            assert f"range at {PART}: {PART - 1} bytes stored, {PART} expected" in refused.text
            again = tickets(api, session_id)
            # Nothing was recorded, but part 0 is in the store as expected: only 1 is needed.
            assert [p["part_number"] for p in again] == [1]
            put_direct(again[0], payload[PART:])
            done = api.post(f"{SESSIONS}/{session_id}/direct/finish")
            assert done.status_code == 201, done.text
            got = download(api, done.json()["data"]["id"])
            assert got.content == payload
    finally:
        stop_server(server)
        backend.dispose()
    assert_clean_log(server)


@pytest.mark.parametrize("combination", ["s3+postgres", "azure+postgres"])
def test_partway_upload_goes_direct_when_the_store_allows(tmp_path: Path, combination: str) -> None:
    """`partway upload` asks for direct parts and sends them to the store; partway receives
    only the create's JSON. `--no-direct` sends them through partway as before."""
    backend = make_backend(combination, tmp_path)
    server = start_server(tmp_path, {**backend.env(), "PARTWAY_DEFAULT_PART_SIZE": str(PART)})
    try:
        data = os.urandom(2 * PART + 99)
        for extra, most in (((), 1000), (("--no-direct",), len(data) + 1000)):
            source = tmp_path / f"up{len(extra)}.bin"  # a name of its own in the folder
            source.write_bytes(data)
            before = received_bytes(server.base_url)
            env = {
                **os.environ,
                "PARTWAY_SERVER": server.base_url,
                "PARTWAY_API_KEY": server.key,
                "PARTWAY_APP_ID": server.app_id,
                "PARTWAY_CONSUMER_ID": server.consumer_id,
            }
            state = tmp_path / f"state{len(extra)}"
            args = ["upload", str(source), "--json", "--state-dir", str(state)]
            done = subprocess.run(
                [sys.executable, "-m", "partway", *args, *extra],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert done.returncode == 0, done.stderr
            received = received_bytes(server.base_url) - before
            assert (received < most) and (received >= len(data) if extra else True), received
            file_id = json.loads(done.stdout.splitlines()[-1])["file"]["id"]
            with server.client() as api:
                assert download(api, file_id).content == data
    finally:
        stop_server(server)
        backend.dispose()
    assert_clean_log(server)


def test_a_store_without_direct_parts_says_so(tmp_path: Path) -> None:
    server = start_server(tmp_path)
    try:
        with server.client() as api:
            res = api.post(
                SESSIONS,
                json={"name": "l.bin", "parent_folder_id": "root", "size": 9},
                headers=DIRECT,
            )
            assert res.status_code == 400, res.text
            assert "ConnectorOperationUnsupportedError" in res.text
            session_id = create_session(api, "local.bin", 10)
            res = api.get(f"{SESSIONS}/{session_id}/direct")
            assert res.status_code == 400, res.text
            assert "ConnectorOperationUnsupportedError" in res.text
    finally:
        stop_server(server)
