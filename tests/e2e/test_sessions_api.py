"""Upload-session behaviour over raw HTTP: part numbers, sizes, digests, lifecycle."""

from __future__ import annotations

import os
import threading

import httpx
import pytest

from tests.conftest import Server

from .helpers import (
    MIB,
    SESSIONS,
    assert_error,
    create_session,
    download,
    finish,
    get_session,
    put_part,
    sha1_header,
    sha256_header,
)


@pytest.fixture
def client(server: Server) -> httpx.Client:
    return server.client()


def test_envelope_and_session_fields(client: httpx.Client) -> None:
    res = client.post(
        SESSIONS + "?raw=false", json={"name": "env.bin", "parent_folder_id": "root", "size": 5}
    )
    body = res.json()
    assert res.status_code == 201
    assert body["status_code"] == 201 and body["status"] == "Created"
    assert (body["service"], body["resource"], body["operation"]) == (
        "local",
        "UploadSessions",
        "add",
    )
    session_id = body["data"]["id"]
    data = get_session(client, session_id)
    assert data["size"] == 5 and data["uploaded_parts"] == [] and data["name"] == "env.bin"
    assert data["success"] is False and data["part_size"] == 8 * MIB
    assert data["expires_at"].endswith("Z")


@pytest.mark.parametrize("number", ["0", "0.0", "0.00"])
def test_part_number_accepts_int_and_float_text(client: httpx.Client, number: str) -> None:
    session_id = create_session(client, f"pn-{number}.bin", 3)
    res = put_part(client, session_id, number, b"abc")
    assert res.status_code == 200, res.text
    assert get_session(client, session_id)["uploaded_parts"] == [0]


@pytest.mark.parametrize("number", ["2.5", "-1", "abc", "nan", "inf", ""])
def test_malformed_part_numbers_are_400(client: httpx.Client, number: str) -> None:
    session_id = create_session(client, f"bad-pn-{number}.bin", 3)
    assert_error(put_part(client, session_id, number, b"abc"), 400, "RequestValidationError")


def test_part_number_out_of_range_is_422(client: httpx.Client) -> None:
    session_id = create_session(client, "range.bin", 3)
    assert_error(put_part(client, session_id, 1, b"abc"), 422, "InvalidStateError")
    assert_error(put_part(client, session_id, 10**9, b"abc"), 422, "InvalidStateError")


def test_wrong_part_sizes_are_422(client: httpx.Client) -> None:
    size = 8 * MIB + 10
    session_id = create_session(client, "sizes.bin", size)
    assert_error(put_part(client, session_id, 0, b"x" * 100), 422, "InvalidStateError")
    assert_error(put_part(client, session_id, 1, b"x" * 11), 422, "InvalidStateError")
    assert put_part(client, session_id, 1, b"x" * 10).status_code == 200
    assert get_session(client, session_id)["uploaded_byte_range"] == f"{8 * MIB}-{size - 1}"


def test_gaps_show_in_byte_range_and_block_finish(client: httpx.Client) -> None:
    part = 8 * MIB
    session_id = create_session(client, "gaps.bin", 3 * part)
    chunk = os.urandom(part)
    assert put_part(client, session_id, 0, chunk).status_code == 200
    assert put_part(client, session_id, 2, chunk).status_code == 200
    data = get_session(client, session_id)
    assert data["uploaded_byte_range"] == f"0-{part - 1},{2 * part}-{3 * part - 1}"
    assert data["uploaded_parts"] == [0, 2]
    body = assert_error(finish(client, session_id), 422, "InvalidStateError")
    assert body["detail"]["missing_parts"] == [1]
    assert "1" in body["message"]


def test_digest_mismatch_is_400_and_session_stays_usable(client: httpx.Client) -> None:
    session_id = create_session(client, "digest.bin", 4)
    wrong = sha1_header(b"nope")
    assert_error(
        put_part(client, session_id, 0, b"data", digest=wrong), 400, "RequestValidationError"
    )
    assert get_session(client, session_id)["uploaded_parts"] == []
    ok = put_part(client, session_id, 0, b"data", digest=sha256_header(b"data"))
    assert ok.status_code == 200, ok.text
    assert_error(finish(client, session_id, digest=sha1_header(b"other")), 400)
    res = finish(client, session_id, digest=sha1_header(b"data") + "," + sha256_header(b"data"))
    assert res.status_code == 201, res.text


@pytest.mark.parametrize("header", ["sha=", "sha=!!!", "sha=AAAA", "md5=abc", "garbage"])
def test_malformed_digest_header_is_400(client: httpx.Client, header: str) -> None:
    session_id = create_session(client, f"bad-digest-{header}.bin", 4)
    assert_error(put_part(client, session_id, 0, b"data", digest=header), 400)


def test_resent_part_replaces_earlier_bytes(client: httpx.Client) -> None:
    session_id = create_session(client, "resend.bin", 6)
    assert put_part(client, session_id, 0, b"AAAAAA").status_code == 200
    assert put_part(client, session_id, 0, b"BBBBBB").status_code == 200
    res = finish(client, session_id, digest=sha1_header(b"BBBBBB"))
    assert res.status_code == 201, res.text
    assert download(client, res.json()["data"]["id"]).content == b"BBBBBB"


def test_unknown_size_session(client: httpx.Client) -> None:
    part = 8 * MIB
    session_id = create_session(client, "stream.bin", None)
    first, last = os.urandom(part), os.urandom(1234)
    assert put_part(client, session_id, 1, last).status_code == 200
    # Part 0 short while part 1 exists: only the last part may be short.
    assert_error(put_part(client, session_id, 0, b"short"), 422, "InvalidStateError")
    assert put_part(client, session_id, 0, first).status_code == 200
    assert_error(put_part(client, session_id, 3, first), 422, "InvalidStateError")
    res = finish(client, session_id, digest=sha1_header(first + last))
    assert res.status_code == 201, res.text
    assert res.json()["data"]["size"] == part + 1234
    assert download(client, res.json()["data"]["id"]).content == first + last


def test_zero_byte_file(client: httpx.Client) -> None:
    session_id = create_session(client, "empty.bin", 0)
    res = finish(client, session_id, digest=sha1_header(b""))
    assert res.status_code == 201, res.text
    assert download(client, res.json()["data"]["id"]).content == b""


def test_finished_session_lifecycle(client: httpx.Client) -> None:
    session_id = create_session(client, "life.bin", 3)
    assert put_part(client, session_id, 0, b"abc").status_code == 200
    first = finish(client, session_id)
    assert first.status_code == 201
    again = finish(client, session_id)
    assert again.status_code == 201 and again.json()["data"]["id"] == first.json()["data"]["id"]
    data = get_session(client, session_id)
    assert data["success"] is True and data["file_id"] == first.json()["data"]["id"]
    assert_error(put_part(client, session_id, 0, b"abc"), 422, "InvalidStateError")
    assert_error(client.delete(f"{SESSIONS}/{session_id}"), 422, "InvalidStateError")


def test_abort_then_everything_is_404(client: httpx.Client) -> None:
    session_id = create_session(client, "abort.bin", 3)
    res = client.delete(f"{SESSIONS}/{session_id}?raw=false")
    assert res.status_code == 200 and res.json()["data"]["id"] == session_id
    assert_error(client.get(f"{SESSIONS}/{session_id}"), 404, "EntityNotFoundError")
    assert_error(put_part(client, session_id, 0, b"abc"), 404)
    assert_error(finish(client, session_id), 404)
    assert_error(client.delete(f"{SESSIONS}/{session_id}"), 404)


def test_fields_and_raw(client: httpx.Client) -> None:
    session_id = create_session(client, "fields.bin", 3)
    res = client.get(f"{SESSIONS}/{session_id}", params={"fields": "id,part_size", "raw": "true"})
    body = res.json()
    assert body["data"] == {"id": session_id, "part_size": 8 * MIB}
    assert body["_raw"]["data"]["name"] == "fields.bin"
    assert_error(client.get(f"{SESSIONS}/{session_id}", params={"raw": "maybe"}), 400)


def test_concurrent_uploads_of_one_part_never_mix(client: httpx.Client, server: Server) -> None:
    size = 8 * MIB
    session_id = create_session(client, "race.bin", size)
    bodies = [bytes([65 + i]) * size for i in range(4)]
    results: list[int] = []

    def send(body: bytes) -> None:
        with server.client() as own:
            results.append(put_part(own, session_id, 0, body, digest=sha1_header(body)).status_code)

    threads = [threading.Thread(target=send, args=(b,)) for b in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200] * 4
    res = finish(client, session_id)
    assert res.status_code == 201
    stored = download(client, res.json()["data"]["id"]).content
    assert stored in bodies


def test_idempotency_key_makes_create_safe_to_retry(client: httpx.Client) -> None:
    body = {"name": "idem.bin", "parent_folder_id": "root", "size": 3}
    headers = {"Idempotency-Key": "k-123"}
    first = client.post(SESSIONS, json=body, headers=headers)
    again = client.post(SESSIONS, json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json()["data"]["id"] == again.json()["data"]["id"]
    other = client.post(SESSIONS, json={**body, "size": 4}, headers=headers)
    assert_error(other, 400, "RequestValidationError")
    # Without the key the name is simply taken.
    assert_error(client.post(SESSIONS, json=body), 409)


def test_part_size_hint(client: httpx.Client) -> None:
    res = client.post(
        SESSIONS,
        json={"name": "hint.bin", "parent_folder_id": "root", "size": 100 * MIB},
        headers={"x-partway-part-size-hint": str(16 * MIB)},
    )
    assert get_session(client, res.json()["data"]["id"])["part_size"] == 16 * MIB
    res = client.post(
        SESSIONS,
        json={"name": "hint2.bin", "parent_folder_id": "root", "size": 1},
        headers={"x-partway-part-size-hint": "lots"},
    )
    assert_error(res, 400)
