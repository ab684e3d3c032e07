"""CRC32C over a real server: parts verified as they stream in (spliced to disk and checked
from the stored pages), the file's CRC32C combined at finish, checked, and shown on the File."""

from __future__ import annotations

import os

import httpx
import pytest

from tests.conftest import Server

from .helpers import (
    MIB,
    SESSIONS,
    assert_error,
    crc32c_header,
    create_session,
    download,
    finish,
    get_session,
    put_part,
    sha1_header,
)


@pytest.fixture
def client(server: Server) -> httpx.Client:
    return server.client()


def test_parts_and_file_verified_by_crc32c(client: httpx.Client) -> None:
    payload = os.urandom(8 * MIB + 1000)  # a full part (the socket-to-file path) and a short one
    session_id = create_session(client, "crc.bin", len(payload))
    session = get_session(client, session_id)
    assert session["digest_algorithms"][0] == "crc32c"
    parts = [payload[: 8 * MIB], payload[8 * MIB :]]
    wrong = put_part(client, session_id, 1, parts[1], digest=crc32c_header(b"other"))
    assert_error(wrong, 400, "RequestValidationError")
    for number, part in enumerate(parts):
        res = put_part(client, session_id, number, part, digest=crc32c_header(part))
        assert res.status_code == 200, res.text
    assert_error(finish(client, session_id, digest=crc32c_header(payload[:-1])), 400)
    res = finish(client, session_id, digest=crc32c_header(payload))
    assert res.status_code == 201, res.text
    file = res.json()["data"]
    want = crc32c_header(payload).removeprefix("crc32c=")
    assert file["checksums"] == {"crc32c": want}
    again = client.get(f"/file-storage/files/{file['id']}").json()["data"]
    assert again["checksums"] == {"crc32c": want}
    assert download(client, file["id"]).content == payload


def test_sha1_parts_give_the_file_a_crc32c_too(client: httpx.Client) -> None:
    payload = os.urandom(3000)
    session_id = create_session(client, "sha.bin", len(payload))
    assert put_part(client, session_id, 0, payload, digest=sha1_header(payload)).status_code == 200
    res = finish(client, session_id, digest=sha1_header(payload))
    assert res.status_code == 201, res.text
    sums = res.json()["data"]["checksums"]
    assert sums["crc32c"] == crc32c_header(payload).removeprefix("crc32c=")
    assert sums["sha"] == sha1_header(payload).removeprefix("sha=")


def test_the_hex_form_of_the_registry_is_accepted(client: httpx.Client) -> None:
    session_id = create_session(client, "dog.txt", 3)
    res = put_part(client, session_id, 0, b"dog", digest="crc32c=A72A4DF")
    assert res.status_code == 200, res.text
    assert client.post(f"{SESSIONS}/{session_id}/finish").status_code == 201


def test_the_server_says_which_digests_it_takes(server: Server, client: httpx.Client) -> None:
    # No credentials needed: a client asks before it creates anything.
    res = httpx.options(server.base_url + SESSIONS)
    assert res.status_code == 200
    assert res.json()["digest_algorithms"] == ["crc32c", "sha", "sha-256"]
    assert res.headers["want-digest"] == "crc32c;q=1, sha;q=0.9, sha-256;q=0.8"
    created = client.post(SESSIONS, json={"name": "w.bin", "parent_folder_id": "root", "size": 1})
    assert created.headers["want-digest"].startswith("crc32c;q=1")
