"""The HTTP edge against a hostile client on a raw socket: framing tricks never desync the
connection, HEAD is answered on every GET route, refusals close the connection, `100 Continue`
comes only after the checks, and the parser's own rejections carry the Apideck error body."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Server, assert_clean_log, start_server, stop_server

from .helpers import MIB, SESSIONS, create_session, get_session, upload_whole
from .raw import Raw


@pytest.fixture(scope="module")
def edge_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("edge"), {"PARTWAY_BODY_TIMEOUT_SECONDS": "2"})
    yield srv
    stop_server(srv)
    assert_clean_log(srv)
    assert '"status": 5' not in srv.log.read_text()


def json_error(reply: bytes, status: int | None) -> dict[str, object]:
    """The one response in `reply`: an Apideck error of `status` (None: any 4xx)."""
    head, _, body = reply.partition(b"\r\n\r\n")
    prefix = f"HTTP/1.1 {status} " if status else "HTTP/1.1 4"
    assert head.startswith(prefix.encode()), reply[:300]
    assert b"content-type: application/json" in head.lower()
    error: dict[str, object] = json.loads(body)
    assert {"status_code", "type_name", "message", "ref"} <= set(error)
    assert error["status_code"] == (status or int(head.split()[1]))
    return error


def read_all(sock: socket.socket, timeout: float = 10) -> bytes:
    """Everything until the server closes the connection."""
    sock.settimeout(timeout)
    data = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            data += chunk
    return data


@pytest.mark.edge_protocol
def test_an_upgrade_on_a_part_never_smuggles_the_bytes_after_it(edge_server: Server) -> None:
    with edge_server.client() as client:
        victim = create_session(client, "victim.bin", 10)
        sid = create_session(client, "smuggle.bin", 100)
        raw = Raw(edge_server)
        hidden = raw.head("DELETE", f"{SESSIONS}/{victim}", 0)
        body = hidden + b"z" * (100 - len(hidden))
        head = raw.head(
            "PUT", f"{SESSIONS}/{sid}?part_number=0", 100, connection="Upgrade", upgrade="h2c"
        )
        raw.sock.sendall(head + body + hidden)
        reply = read_all(raw.sock)
        assert json_error(reply, 400)["message"] == "upgrade is not supported"
        assert reply.count(b"HTTP/1.1") == 1  # nothing after the refusal ran
        assert get_session(client, victim)["state"] == "open"
        assert get_session(client, sid)["uploaded_parts"] == []


@pytest.mark.edge_protocol
def test_a_connect_with_a_body_is_refused(edge_server: Server) -> None:
    raw = Raw(edge_server)
    raw.sock.sendall(raw.head("CONNECT", "example.com:443", 5) + b"hello" + raw.get("/healthz"))
    reply = read_all(raw.sock)
    assert json_error(reply, 400)["message"] == "upgrade is not supported"
    assert reply.count(b"HTTP/1.1") == 1


@pytest.mark.edge_protocol
def test_a_get_asking_for_an_upgrade_is_served_as_http_1_1_then_closed(
    edge_server: Server,
) -> None:
    raw = Raw(edge_server)
    raw.sock.sendall(
        raw.get("/healthz").replace(b"\r\n\r\n", b"\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n")
        + raw.get("/healthz")
    )
    reply = read_all(raw.sock)
    assert reply.startswith(b"HTTP/1.1 200 ")
    assert reply.count(b"HTTP/1.1 ") == 1


def test_head_is_answered_on_every_get_route(edge_server: Server) -> None:
    with edge_server.client() as client:
        file_id = upload_whole(client, "head.bin", os.urandom(5000))
        sid = create_session(client, "head-session.bin", 10)
        folder = client.post(
            "/file-storage/folders", json={"name": "head-folder", "parent_folder_id": "root"}
        ).json()["data"]["id"]
        paths = [
            "/healthz",
            "/readyz",
            "/metrics",
            "/openapi.json",
            "/",
            "/ui/",
            "/file-storage/files?filter[folder_id]=root",
            f"/file-storage/files/{file_id}",
            f"/file-storage/files/{file_id}/download",
            f"/file-storage/folders/{folder}",
            "/file-storage/drives",
            "/file-storage/drives/default",
            SESSIONS,
            f"{SESSIONS}/{sid}",
        ]
        raw = Raw(edge_server)
        for path in paths:
            got = client.get(path)
            raw.sock.sendall(raw.head("HEAD", path, 0))
            while b"\r\n\r\n" not in raw.buffer:
                raw._more()
            head, raw.buffer = raw.buffer.split(b"\r\n\r\n", 1)
            status = int(head.split()[1])
            assert status == got.status_code, path
            if "content-length" in got.headers:
                assert b"\r\ncontent-length: " in head.lower(), path
            if path.endswith("/download"):  # the same bytes: the same length
                assert f"content-length: {got.headers['content-length']}".encode() in head.lower()
        # No body came with any of them: the connection is in step for one more GET.
        raw.sock.sendall(raw.get("/healthz"))
        status, _, body = raw.response()
        assert status == 200 and body == {"status": "ok"}


def test_a_408_for_a_body_that_never_started_closes_the_connection(edge_server: Server) -> None:
    with edge_server.client() as client:
        sid = create_session(client, "never.bin", MIB)
        raw = Raw(edge_server)
        path = f"{SESSIONS}/{sid}?part_number=0"
        raw.sock.sendall(raw.head("PUT", path, MIB, expect="100-continue"))
        reply = read_all(raw.sock)  # 100 Continue, then nothing from us: 408, then close
        assert reply.startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        error = json_error(reply.removeprefix(b"HTTP/1.1 100 Continue\r\n\r\n"), 408)
        assert error["type_name"] == "RequestTimeoutError"
        assert b"connection: close" in reply.lower()


@pytest.mark.edge_protocol
@pytest.mark.parametrize(
    ("case", "length", "status"),
    [
        ("unknown session", MIB, 404),
        ("wrong size", 10, 422),
        ("too large", 200 * MIB, 413),
        ("bad key", MIB, 401),
    ],
)
def test_100_continue_only_after_the_checks(
    edge_server: Server, case: str, length: int, status: int
) -> None:
    with edge_server.client() as client:
        sid = create_session(client, f"expect-{status}.bin", MIB)
    raw = Raw(edge_server)
    if case == "unknown session":
        sid = "ses_00000000000000000000"
    if case == "bad key":
        raw.headers["Authorization"] = "Bearer nope"
    path = f"{SESSIONS}/{sid}?part_number=0"
    raw.sock.sendall(raw.head("PUT", path, length, expect="100-continue"))
    reply = read_all(raw.sock)
    assert b"100 Continue" not in reply
    json_error(reply, status)


@pytest.mark.edge_protocol
@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /healthz HTTP/1.1\r\nBad\x01Header: x\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nX: a\x00b\r\n\r\n",
        b"GET /hea lthz HTTP/1.1\r\n\r\n",
        b"PUT / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
        b"PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"GARBAGE\r\n\r\n",
    ],
)
def test_the_parsers_rejections_carry_the_error_body(
    edge_server: Server, request_bytes: bytes
) -> None:
    """Refused by the parser (400), or, where the head was sound and only the body is bad, by
    the route it reached; either way one JSON error, then the connection closes."""
    raw = Raw(edge_server)
    raw.sock.sendall(request_bytes)
    reply = read_all(raw.sock)
    json_error(reply, None)
    assert reply.count(b"HTTP/1.1 ") == 1


def test_disconnects_at_every_stage_leave_nothing_behind(tmp_path: Path) -> None:
    srv = start_server(tmp_path)
    try:
        with srv.client() as client:
            sid = create_session(client, "stages.bin", MIB)
            raw = Raw(srv)
            whole = raw.put_part(sid, 0, os.urandom(MIB))
            head_end = whole.index(b"\r\n\r\n") + 4
            for cut in (5, head_end - 3, head_end, head_end + 1000, len(whole) - 1):
                conn = Raw(srv)
                conn.sock.sendall(whole[:cut])
                time.sleep(0.2)
                conn.sock.close()
            time.sleep(0.5)
            assert get_session(client, sid)["uploaded_parts"] == []
            assert client.get("/healthz").status_code == 200
    finally:
        stop_server(srv)
    assert_clean_log(srv)
