"""Bad input of every kind gets a clear 4xx with the Apideck error body, never a 500."""

from __future__ import annotations

import os
import socket
from urllib.parse import urlparse

import httpx
import pytest

from tests.conftest import Server

from .helpers import SESSIONS, assert_error, create_session, get_session, put_part


def raw_exchange(server: Server, request: str) -> str:
    """Send a hand-made request and read one full response (headers + Content-Length body)."""
    url = urlparse(server.base_url)
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(request.encode())
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(65536)
        head, _, body = data.partition(b"\r\n\r\n")
        length = int(
            next(
                line.split(b":")[1]
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            )
        )
        while len(body) < length:
            body += sock.recv(65536)
    return (head + b"\r\n\r\n" + body).decode(errors="replace")


@pytest.fixture
def client(server: Server) -> httpx.Client:
    return server.client()


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[]",
        b'"a string"',
        b'{"name": "a", "parent_folder_id": "root", "size": "10"}',
        b'{"name": "a", "parent_folder_id": "root", "size": 1.5}',
        b'{"name": "a", "parent_folder_id": "root", "size": true}',
        b'{"name": "a", "parent_folder_id": "root", "size": -1}',
        b'{"name": "a", "parent_folder_id": "root", "size": 1180591620717411303424}',
        b'{"name": 5, "parent_folder_id": "root", "size": 1}',
        b'{"parent_folder_id": "root", "size": 1}',
        b'{"name": "a", "size": 1}',
        b'{"name": "a", "parent_folder_id": "root", "size": 1, "colour": "red"}',
        b"\xff\xfe\x00",
    ],
)
def test_malformed_create_bodies(client: httpx.Client, body: bytes) -> None:
    res = client.post(SESSIONS, content=body, headers={"content-type": "application/json"})
    assert_error(res, 400, "RequestValidationError")


@pytest.mark.parametrize(
    "name", ["../x", "..", ".", "a/b", "a\\b", "", "   ", "nul\x00", "x" * 300]
)
def test_path_tricks_in_names(client: httpx.Client, name: str, server: Server) -> None:
    before = sorted(os.listdir(server.data_dir / "objects"))
    res = client.post(SESSIONS, json={"name": name, "parent_folder_id": "root", "size": 1})
    assert_error(res, 400, "RequestValidationError")
    assert sorted(os.listdir(server.data_dir / "objects")) == before


def test_file_size_beyond_any_part_layout(client: httpx.Client) -> None:
    res = client.post(SESSIONS, json={"name": "huge", "parent_folder_id": "root", "size": 2**50})
    body = assert_error(res, 400, "RequestValidationError")
    assert "exceeds" in body["message"]


def test_unknown_parent_folder_is_404(client: httpx.Client) -> None:
    res = client.post(SESSIONS, json={"name": "a", "parent_folder_id": "fld_nope", "size": 1})
    assert_error(res, 404, "EntityNotFoundError")
    res = client.post(
        SESSIONS, json={"name": "a", "parent_folder_id": "root", "size": 1, "drive_id": "other"}
    )
    assert_error(res, 404, "EntityNotFoundError")


def test_name_conflicts_are_409_at_create(client: httpx.Client) -> None:
    create_session(client, "taken.bin", 1)
    res = client.post(SESSIONS, json={"name": "taken.bin", "parent_folder_id": "root", "size": 1})
    assert_error(res, 409, "ConflictError")
    res = client.post(
        "/file-storage/folders", json={"name": "taken.bin", "parent_folder_id": "root"}
    )
    assert_error(res, 409)


def test_session_ids_that_look_like_paths(client: httpx.Client) -> None:
    for sid in ["..%2F..%2Fetc", "%2e%2e", "a" * 500]:
        assert_error(client.get(f"{SESSIONS}/{sid}"), 404)
    # A NUL is no text anywhere in a path (PostgreSQL refuses it in a query): refused as input.
    assert_error(client.get(f"{SESSIONS}/ses_x%00"), 400, "RequestValidationError")
    assert_error(put_part(client, "..%2Fobjects", 0, b"x"), 404)


def test_body_over_max_part_size_is_413_before_reading(server: Server) -> None:
    with server.client() as client:
        session_id = create_session(client, "big.bin", None)
    url = urlparse(server.base_url)
    headers = server.headers()
    request = (
        f"PUT {SESSIONS}/{session_id}?part_number=0 HTTP/1.1\r\nHost: {url.netloc}\r\n"
        + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        + "Content-Type: application/octet-stream\r\n"
        + f"Content-Length: {200 * 1024 * 1024}\r\n\r\n"
    )
    reply = raw_exchange(server, request)
    assert reply.startswith("HTTP/1.1 413"), reply
    assert "PayloadTooLargeError" in reply


def test_body_longer_than_the_part_is_422(client: httpx.Client) -> None:
    session_id = create_session(client, "long.bin", None)

    def body() -> object:
        for _ in range(10):
            yield b"x" * (1024 * 1024)

    res = client.put(
        f"{SESSIONS}/{session_id}",
        params={"part_number": 0},
        content=body(),  # type: ignore[arg-type]
    )
    # 10 MiB chunked into an 8 MiB part: refused, nothing recorded.
    assert_error(res, 422, "InvalidStateError")
    assert get_session(client, session_id)["uploaded_parts"] == []


def test_wrong_content_length(server: Server) -> None:
    with server.client() as client:
        session_id = create_session(client, "liar.bin", 10)
    head = f"PUT {SESSIONS}/{session_id}?part_number=0 HTTP/1.1\r\nHost: x\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in server.headers().items()
    )
    # Declared and sent 4 bytes for a 10-byte part: refused before the body is read.
    reply = raw_exchange(server, head + "Content-Length: 4\r\n\r\n0123")
    assert reply.startswith("HTTP/1.1 422"), reply
    # Declared 10 but the client stops after 4 and hangs up: nothing is recorded.
    url = urlparse(server.base_url)
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall((head + "Content-Length: 10\r\n\r\n0123").encode())
        sock.shutdown(socket.SHUT_WR)
        sock.recv(65536)
    with server.client() as client:
        assert get_session(client, session_id)["uploaded_parts"] == []
        assert put_part(client, session_id, 0, b"0123456789").status_code == 200
        assert get_session(client, session_id)["uploaded_parts"] == [0]


def test_unknown_routes_and_methods_get_json_errors(client: httpx.Client) -> None:
    assert_error(client.get("/nope"), 404)
    assert_error(client.patch(SESSIONS), 405)


def test_finish_body_must_be_empty_object(client: httpx.Client) -> None:
    session_id = create_session(client, "fbody.bin", 0)
    res = client.post(f"{SESSIONS}/{session_id}/finish", json={"extra": 1})
    assert_error(res, 400, "RequestValidationError")
    res = client.post(f"{SESSIONS}/{session_id}/finish", json={})
    assert res.status_code == 201, res.text
