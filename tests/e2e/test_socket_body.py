"""Part bodies read straight from the socket by a worker thread (http/server.py), seen from a raw
HTTP/1.1 connection: the connection stays in step with the requests on it whatever happens."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from tests.conftest import Server, assert_clean_log, start_server, stop_server

from .helpers import MIB, SESSIONS, create_session, download, finish, get_session, put_part
from .raw import Raw


def test_pipelined_parts_and_a_get_on_one_connection(server: Server) -> None:
    payload = os.urandom(3 * MIB + 12345)
    with server.client() as client:
        sid = create_session(client, "pipelined.bin", len(payload))
        part_size = get_session(client, sid)["part_size"]
        raw = Raw(server)
        parts = [payload[i : i + part_size] for i in range(0, len(payload), part_size)]
        # Everything written before reading any answer: the server must read each body exactly
        # to its end and parse the next request from the following byte.
        wire = b"".join(raw.put_part(sid, n, p) for n, p in enumerate(parts))
        raw.sock.sendall(wire + raw.get(f"{SESSIONS}/{sid}"))
        for _ in parts:
            status, _, body = raw.response()
            assert status == 200, body
        status, _, body = raw.response()
        assert status == 200
        assert body["data"]["uploaded_parts"] == list(range(len(parts)))
        res = finish(client, sid)
        assert res.status_code == 201, res.text
        stored = download(client, res.json()["data"]["id"]).content
        assert hashlib.sha256(stored).digest() == hashlib.sha256(payload).digest()


@pytest.mark.edge_protocol
def test_a_part_refused_before_its_body_closes_the_connection(server: Server) -> None:
    with server.client() as client:
        sid = create_session(client, "rejected.bin", 3 * MIB)
        raw = Raw(server)
        # Wrong size for part 0 (the whole 3 MiB is one part): refused before its body is read.
        # The unread body (or, had the client held it back, its next request) must never be
        # parsed as a request: the answer says close, and the server hangs up after it.
        raw.sock.sendall(raw.put_part(sid, 0, os.urandom(MIB)) + raw.get(f"{SESSIONS}/{sid}"))
        status, headers, body = raw.response()
        assert status == 422, body
        assert headers.get("connection") == "close"
        with pytest.raises(ConnectionError):
            raw.response()  # the pipelined GET is not answered
        assert get_session(client, sid)["uploaded_parts"] == []


def test_a_client_gone_mid_body_records_nothing(server: Server) -> None:
    with server.client() as client:
        sid = create_session(client, "gone.bin", 4 * MIB)
        raw = Raw(server)
        whole = raw.put_part(sid, 0, os.urandom(4 * MIB))
        raw.sock.sendall(whole[: len(whole) - MIB])
        time.sleep(0.3)
        raw.sock.close()
        time.sleep(0.5)
        assert get_session(client, sid)["uploaded_parts"] == []
        # The same part again, whole, on a new connection: recorded.
        again = Raw(server)
        again.sock.sendall(again.put_part(sid, 0, os.urandom(4 * MIB)))
        status, _, body = again.response()
        assert status == 200, body
        assert get_session(client, sid)["uploaded_parts"] == [0]


def test_a_digest_mismatch_is_answered_and_the_connection_carries_on(server: Server) -> None:
    payload = os.urandom(2 * MIB)
    with server.client() as client:
        sid = create_session(client, "digest.bin", len(payload))
        raw = Raw(server)
        wrong = "sha=" + "A" * 27 + "="  # a well-formed SHA-1 digest of other bytes
        raw.sock.sendall(raw.put_part(sid, 0, payload, digest=wrong))
        status, _, body = raw.response()
        assert status == 400, body
        assert body["type_name"] == "RequestValidationError"
        # The body was read to its end: the connection carries the next request.
        raw.sock.sendall(raw.get(f"{SESSIONS}/{sid}"))
        status, _, body = raw.response()
        assert status == 200
        assert body["data"]["uploaded_parts"] == []


def test_expect_100_continue(server: Server) -> None:
    payload = os.urandom(2 * MIB)
    with server.client() as client:
        sid = create_session(client, "expect.bin", len(payload))
        raw = Raw(server)
        path = f"{SESSIONS}/{sid}?part_number=0"
        raw.sock.sendall(raw.head("PUT", path, len(payload), expect="100-continue"))
        while b"\r\n\r\n" not in raw.buffer:
            raw._more()
        assert raw.buffer.startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        raw.buffer = raw.buffer.removeprefix(b"HTTP/1.1 100 Continue\r\n\r\n")
        raw.sock.sendall(payload)
        status, _, body = raw.response()
        assert status == 200, body
        assert get_session(client, sid)["uploaded_parts"] == [0]


def test_a_silent_client_gets_408_and_the_connection_is_closed(tmp_path: Path) -> None:
    srv = start_server(tmp_path, {"PARTWAY_BODY_TIMEOUT_SECONDS": "1"})
    try:
        with srv.client() as client:
            sid = create_session(client, "silent.bin", 2 * MIB)
            raw = Raw(srv)
            whole = raw.put_part(sid, 0, os.urandom(2 * MIB))
            raw.sock.sendall(whole[: len(whole) - MIB])  # half the body, then nothing
            status, headers, body = raw.response()
            assert status == 408, body
            assert body["type_name"] == "RequestTimeoutError"
            # Mid-body, the stream cannot carry another request: the server hangs up.
            assert headers.get("connection") == "close"
            assert raw.sock.recv(1) == b""
            assert get_session(client, sid)["uploaded_parts"] == []
            res = put_part(client, sid, 0, os.urandom(2 * MIB))
            assert res.status_code == 200, res.text
    finally:
        stop_server(srv)
    assert_clean_log(srv)
