"""Direct parts (partway extension, issue #20): a session created in direct mode has its client
PUT each part straight into the object store over the URLs partway signs, on S3 (Ceph RGW or
moto) and Azure (Azurite); partway receives none of the bytes, and its finish checks the
store's account of the parts."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from awscrt import checksums

from tests.backends import BUCKET, Backend, make_backend, s3_client
from tests.conftest import assert_clean_log, log_events, start_server, stop_server

from .helpers import MIB, create_session, download, get_session, received_bytes

PART = 5 * MIB
SESSIONS = "/file-storage/upload-sessions"
DIRECT = {"x-partway-upload-mode": "direct"}
# moto's server checks no presigned URL's signature (RGW does): the signed size and
# Content-MD5 are then not enforced by the store, only checked by finish.
SIGNATURES_CHECKED = os.environ.get("PARTWAY_TEST_S3_KIND") != "moto"


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
                if SIGNATURES_CHECKED:
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


def test_local_disk_direct_parts_go_through_urls_partway_signs_and_serves(
    tmp_path: Path,
) -> None:
    """On local disk a direct session's part URLs are partway's own: HMAC-signed, expiring
    capabilities that need no credentials and write one part of one session; a claimed CRC32C
    is checked as the bytes arrive. `auto` stays proxied there (no bytes would bypass partway),
    and a proxied session refuses the direct routes."""
    server = start_server(tmp_path, {"PARTWAY_DEFAULT_PART_SIZE": str(MIB)})
    try:
        with server.client() as api:
            auto = create_session(api, "auto.bin", 9, headers={"x-partway-upload-mode": "auto"})
            assert get_session(api, auto)["upload_mode"] == "proxied"
            res = api.get(f"{SESSIONS}/{auto}/direct")
            assert res.status_code == 400, res.text
            assert "ConnectorOperationUnsupportedError" in res.text

            payload = os.urandom(2 * MIB + 5)
            session_id = create_session(api, "local.bin", len(payload), headers=DIRECT)
            parts = get_session(api, session_id)["direct_parts"]
            assert [p["part_number"] for p in parts] == [0, 1, 2]
            assert all(p["url"].startswith(server.base_url + "/signed/parts/") for p in parts)
            pieces = [payload[p["offset"] : p["offset"] + p["size"]] for p in parts]

            # No credentials: the URL is the capability. A forged or re-targeted one is not.
            forged = parts[0]["url"].replace("signature=", "signature=x")
            assert httpx.put(forged, content=pieces[0]).status_code == 404
            other_part = parts[0]["url"].replace(f"/{session_id}/0?", f"/{session_id}/1?")
            assert httpx.put(other_part, content=pieces[1]).status_code == 404
            stretched = re.sub(
                r"expires=(\d+)", lambda m: f"expires={int(m[1]) + 3600}", parts[0]["url"]
            )
            assert httpx.put(stretched, content=pieces[0]).status_code == 404
            put_direct(parts[0], pieces[0])
            put_direct(parts[2], pieces[2])

            crc = b64(checksums.crc32c(pieces[1]).to_bytes(4, "big"))
            res = api.post(
                f"{SESSIONS}/{session_id}/direct",
                json={"parts": [{"part_number": 1, "crc32c": crc}]},
            )
            assert res.status_code == 200, res.text
            (bound,) = res.json()["data"]["parts"]
            wrong = httpx.put(bound["url"], content=os.urandom(MIB))
            assert wrong.status_code == 400 and "digest" in wrong.text.lower(), wrong.text
            assert [p["part_number"] for p in tickets(api, session_id)] == [1]
            put_direct(bound, pieces[1])
            assert tickets(api, session_id) == []
            done = api.post(f"{SESSIONS}/{session_id}/finish")
            assert done.status_code == 201, done.text
            assert download(api, done.json()["data"]["id"]).content == payload
    finally:
        stop_server(server)
    assert_clean_log(server)


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def test_direct_mode_is_chosen_at_create_or_by_the_services_default(tmp_path: Path) -> None:
    """PARTWAY_DIRECT_SERVICES makes direct the default; the create's header overrides it. Only
    direct sessions hand out URLs; an SDK that knows nothing of direct mode still uploads to a
    direct session through partway, and its plain finish works."""
    backend = make_backend("s3+postgres", tmp_path)
    env = {
        **backend.env(),
        "PARTWAY_DEFAULT_PART_SIZE": str(PART),
        "PARTWAY_DIRECT_SERVICES": '["s3"]',
    }
    server = start_server(tmp_path, env)
    try:
        with server.client() as api:
            payload = os.urandom(PART + 10)
            by_default = create_session(api, "default.bin", len(payload))
            got = api.get(f"{SESSIONS}/{by_default}").json()["data"]
            assert got["upload_mode"] == "direct"
            # The session's GET carries a signed URL per part still needed.
            assert [p["part_number"] for p in got["direct_parts"]] == [0, 1]
            assert all("X-Amz-Signature=" in p["url"] for p in got["direct_parts"])
            # Mixed: part 0 through partway (as the Apideck SDK sends it), part 1 direct.
            res = api.put(
                f"{SESSIONS}/{by_default}", params={"part_number": 0}, content=payload[:PART]
            )
            assert res.status_code == 200, res.text
            left = api.get(f"{SESSIONS}/{by_default}").json()["data"]["direct_parts"]
            assert [p["part_number"] for p in left] == [1]
            put_direct(left[0], payload[PART:])
            done = api.post(f"{SESSIONS}/{by_default}/finish")  # the plain, SDK finish
            assert done.status_code == 201, done.text
            assert download(api, done.json()["data"]["id"]).content == payload

            # The default needs a declared size (an SDK may create without one): proxied then.
            unsized = create_session(api, "unsized.bin", None)
            assert get_session(api, unsized)["upload_mode"] == "proxied"
            res = api.post(
                SESSIONS,
                json={"name": "u.bin", "parent_folder_id": "root", "size": None},
                headers=DIRECT,
            )
            assert res.status_code == 400, res.text
            assert "direct parts need a session created with its size" in res.text
            proxied = create_session(
                api, "proxied.bin", 10, headers={"x-partway-upload-mode": "proxied"}
            )
            got = api.get(f"{SESSIONS}/{proxied}").json()["data"]
            assert got["upload_mode"] == "proxied" and "direct_parts" not in got
            for refused in (
                api.get(f"{SESSIONS}/{proxied}/direct"),
                api.post(f"{SESSIONS}/{proxied}/direct", json={"parts": [{"part_number": 0}]}),
            ):
                assert refused.status_code == 400, refused.text
                body = refused.json()
                assert body["type_name"] == "ConnectorOperationUnsupportedError"
                assert "created in direct mode" in body["message"]

            res = api.post(
                SESSIONS,
                json={"name": "x.bin", "parent_folder_id": "root", "size": 1},
                headers={"x-partway-upload-mode": "sideways"},
            )
            assert res.status_code == 400, res.text
            assert "x-partway-upload-mode must be one of: direct, proxied, auto" in res.text
    finally:
        stop_server(server)
        backend.dispose()
    assert_clean_log(server)


def test_a_claimed_checksum_is_bound_into_the_url_and_checked_at_finish(tmp_path: Path) -> None:
    """On S3 a part's claimed MD5 is a signed Content-MD5 of its URL: the store refuses other
    bytes itself. A part written behind partway's back with other bytes of the right size
    makes finish refuse, naming it; GET …/direct then asks for it again."""
    backend = make_backend("s3+postgres", tmp_path)
    server = start_server(tmp_path, {**backend.env(), "PARTWAY_DEFAULT_PART_SIZE": str(PART)})
    try:
        with server.client() as api:
            payload = os.urandom(2 * PART + 3)
            session_id = create_session(api, "claimed.bin", len(payload), headers=DIRECT)
            pieces = [payload[:PART], payload[PART : 2 * PART], payload[2 * PART :]]
            claims = [
                {
                    "part_number": n,
                    "md5": b64(hashlib.md5(piece).digest()),
                    "crc32c": b64(checksums.crc32c(piece).to_bytes(4, "big")),
                }
                for n, piece in enumerate(pieces)
            ]
            res = api.post(f"{SESSIONS}/{session_id}/direct", json={"parts": claims})
            assert res.status_code == 200, res.text
            parts = res.json()["data"]["parts"]
            assert [p["headers"] for p in parts] == [{"content-md5": c["md5"]} for c in claims]
            assert all("content-md5" in p["url"].lower() for p in parts)  # a signed header
            # Other bytes of the right size: the store checks the MD5 and refuses them.
            other = os.urandom(PART)
            res = httpx.put(parts[0]["url"], content=other, headers=parts[0]["headers"])
            assert res.status_code == 400 and "BadDigest" in res.text, res.text
            # Without the header the signature does not match.
            if SIGNATURES_CHECKED:
                assert httpx.put(parts[0]["url"], content=pieces[0]).status_code == 403
            for part, piece in zip(parts, pieces, strict=True):
                put_direct(part, piece)
            assert tickets(api, session_id) == []  # the store holds every part as claimed

            tamper_part(backend, 2, other)  # part 1, same size, other bytes
            refused = api.post(f"{SESSIONS}/{session_id}/finish")
            assert refused.status_code == 400, refused.text
            bad = refused.json()["detail"]["bad_parts"]
            want = hashlib.md5(pieces[1]).hexdigest()
            assert bad == [
                f"range at {PART}: stored MD5 {hashlib.md5(other).hexdigest()} is not the "
                f"{want} claimed"
            ]
            again = tickets(api, session_id)
            assert [p["part_number"] for p in again] == [1]
            put_direct(again[0], pieces[1])
            done = api.post(f"{SESSIONS}/{session_id}/finish")
            assert done.status_code == 201, done.text
            assert download(api, done.json()["data"]["id"]).content == payload

            for body, problem in (
                ({"parts": [{"part_number": 0, "md5": "not base64!"}]}, "md5 must be the base64"),
                ({"parts": [{"part_number": 0, "crc32c": b64(b"12345")}]}, "crc32c must be"),
                ({"parts": [{"part_number": 3}]}, "part 3 is not a part of this upload"),
                ({"parts": []}, "parts"),
            ):
                fresh = create_session(api, f"v{len(problem)}.bin", 10, headers=DIRECT)
                res = api.post(f"{SESSIONS}/{fresh}/direct", json=body)
                assert res.status_code == 400, res.text
                assert problem in res.json()["message"], res.text
    finally:
        stop_server(server)
        backend.dispose()
    assert_clean_log(server)


BIG = 256 * MIB
BIG_PART = 16 * MIB


def big_part(number: int, block: bytes, size: int) -> bytes:
    """Part `number` of the 256 MiB payload: one random block, varied per part."""
    return (number.to_bytes(8, "little") + block[8:])[:size]


def test_256_mib_direct_through_rgw_bypasses_partway_and_a_tampered_part_is_refused(
    tmp_path: Path,
) -> None:
    """Issue #20's showcase: 256 MiB in direct mode on RGW. partway's received-bytes counter
    does not move from create to the last finish, the object's bytes are right, and a part of
    the wrong size written into the upload behind partway's back makes finish refuse."""
    backend = make_backend("s3+postgres", tmp_path)
    server = start_server(tmp_path, {**backend.env(), "PARTWAY_DEFAULT_PART_SIZE": str(BIG_PART)})
    try:
        with server.client() as api:
            block = os.urandom(BIG_PART)
            count = BIG // BIG_PART
            expected = hashlib.sha256()
            for n in range(count):
                expected.update(big_part(n, block, BIG_PART))
            before = received_bytes(server.base_url)
            session_id = create_session(api, "big.bin", BIG, headers=DIRECT)
            after_create = received_bytes(server.base_url)
            parts = api.get(f"{SESSIONS}/{session_id}").json()["data"]["direct_parts"]
            assert [p["part_number"] for p in parts] == list(range(count))

            def send(part: dict[str, Any]) -> None:
                put_direct(part, big_part(part["part_number"], block, part["size"]))

            started = time.monotonic()
            with ThreadPoolExecutor(4) as pool:
                list(pool.map(send, parts))
            took = time.monotonic() - started
            print(f"256 MiB direct into RGW: {BIG / MIB / took:.0f} MiB/s")

            tampered = 4
            tamper_part(backend, tampered + 1, big_part(tampered, block, BIG_PART - 1))
            refused = api.post(f"{SESSIONS}/{session_id}/finish")
            assert refused.status_code == 400, refused.text
            assert refused.json()["detail"]["bad_parts"] == [
                f"range at {tampered * BIG_PART}: {BIG_PART - 1} bytes stored, {BIG_PART} expected"
            ]
            again = tickets(api, session_id)
            assert [p["part_number"] for p in again] == [tampered]
            send(again[0])
            done = api.post(f"{SESSIONS}/{session_id}/finish")
            assert done.status_code == 201, done.text
            # Create's JSON aside, not one request body byte reached partway.
            assert received_bytes(server.base_url) == after_create
            assert after_create - before < 200
            got = hashlib.sha256()
            with api.stream(
                "GET", f"/file-storage/files/{done.json()['data']['id']}/download"
            ) as res:
                assert res.status_code == 200
                for chunk in res.iter_bytes():
                    got.update(chunk)
            assert got.hexdigest() == expected.hexdigest()
    finally:
        stop_server(server)
        backend.dispose()
    assert_clean_log(server)


def stored_parts(backend: Backend) -> dict[int, str]:
    """Part number (from 1) → ETag of the one unfinished upload under the backend's prefix."""
    client = s3_client(os.environ["PARTWAY_TEST_S3_ENDPOINT"])
    prefix = backend.storage_url.split("?", 1)[0].removeprefix(f"s3://{BUCKET}/") + "/"
    (upload,) = client.list_multipart_uploads(Bucket=BUCKET, Prefix=prefix)["Uploads"]
    listed = client.list_parts(Bucket=BUCKET, Key=upload["Key"], UploadId=upload["UploadId"])
    return {p["PartNumber"]: p["ETag"] for p in listed.get("Parts", [])}


def test_a_resumed_direct_upload_sends_only_the_parts_the_store_lacks(tmp_path: Path) -> None:
    """`partway upload` SIGKILLed mid-way in direct mode, then run again: the second run asks
    for (and PUTs) only the parts the store does not hold yet."""
    backend = make_backend("s3+postgres", tmp_path)
    server = start_server(tmp_path, {**backend.env(), "PARTWAY_DEFAULT_PART_SIZE": str(PART)})
    try:
        count = 12
        source = tmp_path / "resume.bin"
        source.write_bytes(os.urandom(count * PART - 7))
        env = {
            **os.environ,
            "PARTWAY_SERVER": server.base_url,
            "PARTWAY_API_KEY": server.key,
            "PARTWAY_APP_ID": server.app_id,
            "PARTWAY_CONSUMER_ID": server.consumer_id,
        }
        args = [sys.executable, "-m", "partway", "upload", str(source), "--json"]
        args += ["--state-dir", str(tmp_path / "state"), "--parallel", "1"]
        first = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, text=True)
        assert first.stdout is not None
        done = 0
        for line in first.stdout:
            done += json.loads(line)["event"] == "part"
            if done == 4:
                break
        first.send_signal(signal.SIGKILL)
        first.wait()
        time.sleep(1)  # a PUT whose body was sent whole may still be landing
        held = stored_parts(backend)
        assert 4 <= len(held) < count, held
        seen = len(log_events(server))

        second = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
        assert second.returncode == 0, second.stderr
        events = [json.loads(line) for line in second.stdout.splitlines()]
        assert events[0]["event"] == "session" and events[0]["resumed_parts"] == len(held)
        assert sum(e["event"] == "part" for e in events) == count - len(held)
        # The server signed URLs for those parts only.
        claimed = [
            e
            for e in log_events(server)[seen:]
            if e.get("method") == "POST" and str(e.get("path", "")).endswith("/direct")
        ]
        assert len(claimed) == count - len(held)
        file_id = events[-1]["file"]["id"]
        with server.client() as api:
            assert download(api, file_id).content == source.read_bytes()
    finally:
        stop_server(server)
        backend.dispose()
    assert_clean_log(server)
