"""Operations: metrics moving with their events, health and readiness, request logs, shutdown."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest

from tests.conftest import Server, free_port, launch, log_events, start_server, stop_server

from .helpers import (
    MIB,
    SESSIONS,
    create_session,
    finish,
    get_session,
    metric_samples,
    put_part,
    sha1_header,
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("ops")
    srv = start_server(
        tmp,
        {
            "PARTWAY_DATABASE_URL": f"sqlite:///{tmp / 'meta' / 'partway.db'}",
            "PARTWAY_SESSION_TTL_SECONDS": "1.5",
            "PARTWAY_REAP_INTERVAL_SECONDS": "0.5",
            "PARTWAY_DEFAULT_QUOTA_BYTES": str(64 * MIB),
            "PARTWAY_DEFAULT_PART_SIZE": str(MIB),
        },
    )
    yield srv
    stop_server(srv)


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(server: Server) -> Samples:
    """Every sample on the /metrics page, by name and labels."""
    text = httpx.get(server.base_url + "/metrics").text
    return {(s.name, frozenset(s.labels.items())): s.value for s in metric_samples(text)}


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    key = (name, frozenset(labels.items()))
    return after.get(key, 0.0) - before.get(key, 0.0)


def test_every_metric_family_moves_with_its_event(server: Server) -> None:
    before = scrape(server)
    with server.client() as c:
        session_id = create_session(c, "m.bin", 2 * MIB)
        assert put_part(c, session_id, 0, b"a" * MIB).status_code == 200
        held = scrape(server)
        assert held[("partway_open_session_bytes", frozenset())] >= MIB
        assert put_part(c, session_id, 1, b"b" * MIB, digest=sha1_header(b"x")).status_code == 400
        assert put_part(c, session_id, 1, b"b" * 10).status_code == 422
        assert put_part(c, session_id, 1, b"b" * MIB).status_code == 200
        assert finish(c, session_id).status_code == 201
        aborted = create_session(c, "gone.bin", 1)
        assert c.delete(f"{SESSIONS}/{aborted}").status_code == 200
        stream = create_session(c, "stream.bin", None)
        for n in range(64):
            if put_part(c, stream, n, b"s" * MIB).status_code == 402:
                break
        assert c.delete(f"{SESSIONS}/{stream}").status_code == 200
        expiring = create_session(c, "late.bin", 3)
        assert put_part(c, expiring, 0, b"abc").status_code == 200
        file_id = finish(c, session_id).json()["data"]["id"]
        assert c.get(f"/file-storage/files/{file_id}/download").status_code == 200
    time.sleep(3)  # the 1.5 s TTL passes and the 0.5 s reaper runs
    after = scrape(server)
    for event in ("created", "finished", "aborted", "expired"):
        assert delta(before, after, "partway_sessions_total", event=event) >= 1, event
    for reason in ("digest", "size", "quota"):
        assert delta(before, after, "partway_parts_rejected_total", reason=reason) >= 1
    assert delta(before, after, "partway_parts_recorded_total") >= 3
    assert delta(before, after, "partway_http_received_bytes_total") >= 3 * MIB
    assert delta(before, after, "partway_http_served_bytes_total") >= 2 * MIB
    assert delta(before, after, "partway_reaper_runs_total") >= 1
    assert delta(before, after, "partway_reaper_reclaimed_bytes_total") >= 3
    route = {"method": "PUT", "route": "/file-storage/upload-sessions/{id}"}
    assert delta(before, after, "partway_http_requests_total", **route, status="200") >= 3
    assert delta(before, after, "partway_http_request_duration_seconds_count", **route) >= 3
    write = {"backend": "local", "operation": "write"}
    assert delta(before, after, "partway_storage_operation_duration_seconds_count", **write) >= 2
    assert "partway_storage_errors_total" in httpx.get(server.base_url + "/metrics").text


def test_request_log_lines_and_request_ids(server: Server) -> None:
    with server.client() as c:
        res = c.get("/file-storage/drives", headers={"X-Request-Id": "trace-42"})
        assert res.headers["request-id"] == "trace-42"
        generated = c.get("/file-storage/drives").headers["request-id"]
        assert re.fullmatch(r"[0-9a-f]{32}", generated)
        assert (
            c.get("/nope", headers={"X-Request-Id": "bad id with spaces"}).headers["request-id"]
            != "bad id with spaces"
        )
    lines = [e for e in log_events(server) if e.get("request_id") == "trace-42"]
    assert len(lines) == 1
    line = lines[0]
    assert line["route"] == "/file-storage/drives" and line["status"] == 200
    assert line["app_id"] == server.app_id and line["consumer_id"] == server.consumer_id
    assert line["method"] == "GET" and line["bytes_out"] > 0 and line["duration_ms"] >= 0
    assert server.key not in server.log.read_text()


def test_health_and_readiness(server: Server, tmp_path: Path) -> None:
    assert httpx.get(server.base_url + "/healthz").json() == {"status": "ok"}
    ready = httpx.get(server.base_url + "/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["metadata"] == "ok"
    meta = Path(urlparse(server.log.parent.as_uri()).path) / "meta"
    moved = tmp_path / "meta-away"
    shutil.move(meta, moved)
    try:
        down = httpx.get(server.base_url + "/readyz")
        assert down.status_code == 503
        assert down.json()["checks"]["metadata"] != "ok"
        assert down.json()["checks"]["storage:local"] == "ok"
    finally:
        shutil.move(moved, meta)
    assert httpx.get(server.base_url + "/readyz").status_code == 200


def _slow_put(server: Server, session_id: str, body: bytes) -> socket.socket:
    """Send the headers and half the body of a part, leaving the rest for later."""
    url = urlparse(server.base_url)
    sock = socket.create_connection((url.hostname, url.port))
    head = (
        f"PUT {SESSIONS}/{session_id}?part_number=0 HTTP/1.1\r\nHost: x\r\n"
        + "".join(f"{k}: {v}\r\n" for k, v in server.headers().items())
        + f"Content-Length: {len(body)}\r\n\r\n"
    )
    sock.sendall(head.encode() + body[: len(body) // 2])
    return sock


def test_graceful_shutdown(tmp_path: Path) -> None:
    env = {"PARTWAY_SHUTDOWN_GRACE_SECONDS": "3", "PARTWAY_DEFAULT_PART_SIZE": str(MIB)}
    srv = start_server(tmp_path, env)
    with srv.client() as c:
        finished_in_time = create_session(c, "in-time.bin", MIB)
        cut_off = create_session(c, "cut-off.bin", MIB)
    body = os.urandom(MIB)
    in_time, too_slow = _slow_put(srv, finished_in_time, body), _slow_put(srv, cut_off, body)
    time.sleep(0.3)
    srv.process.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    with pytest.raises(httpx.TransportError):  # no longer accepting
        httpx.get(srv.base_url + "/healthz", timeout=1)
    in_time.sendall(body[MIB // 2 :])
    assert in_time.recv(100).startswith(b"HTTP/1.1 200")
    started = time.monotonic()
    srv.process.wait(15)
    assert time.monotonic() - started < 6  # the grace period, not the stuck client, decides
    too_slow.close()
    in_time.close()

    port = int(srv.base_url.rsplit(":", 1)[1])
    srv.process = launch(srv.data_dir, port, srv.log, env)
    try:
        with srv.client() as c:
            assert get_session(c, finished_in_time)["uploaded_parts"] == [0]
            assert get_session(c, cut_off)["uploaded_parts"] == []
    finally:
        stop_server(srv)


def test_metrics_on_their_own_port(tmp_path: Path) -> None:
    port = free_port()
    srv = start_server(tmp_path, {"PARTWAY_METRICS_PORT": str(port)})
    try:
        assert httpx.get(srv.base_url + "/metrics").status_code == 404
        text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
        assert "partway_http_requests_total" in text
    finally:
        stop_server(srv)
    # uvicorn re-raises the SIGTERM after its graceful shutdown, as a service manager expects.
    assert srv.process.returncode in (0, -signal.SIGTERM)
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=1)
