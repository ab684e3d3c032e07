"""Debian's nginx in front of partway with the documented snippet: uploads stream through."""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from partway.client import Credentials, UploadOptions, upload_async
from tests.conftest import Server, free_port, wait_for_log_event
from tests.system import program

ROOT = Path(__file__).resolve().parents[2]
SNIPPET = ROOT / "deploy" / "nginx" / "partway-location.conf"
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def prefix(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("nginx")


@pytest.fixture(scope="module")
def nginx(server: Server, prefix: Path) -> Iterator[str]:
    binary = program("nginx", "nginx-light", "/usr/sbin/nginx")
    port = free_port()
    upstream = server.base_url.removeprefix("http://")
    temp = "".join(
        f"{kind}_temp_path {prefix / kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (prefix / "nginx.conf").write_text(
        f"""
daemon off;
worker_processes 1;
pid {prefix / "nginx.pid"};
error_log {prefix / "error.log"} warn;
events {{ worker_connections 256; }}
http {{
    access_log {prefix / "access.log"};
    {temp}
    upstream partway {{ server {upstream}; keepalive 16; }}
    server {{
        listen 127.0.0.1:{port};
        include {SNIPPET};
    }}
}}
"""
    )
    proc = subprocess.Popen([binary, "-p", str(prefix), "-c", str(prefix / "nginx.conf")])
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx.get(url + "/healthz", timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.05)
    yield url
    proc.terminate()
    proc.wait(10)


def test_upload_through_nginx(server: Server, nginx: str, prefix: Path, tmp_path: Path) -> None:
    payload = os.urandom(40 * MIB + 123)
    source = tmp_path / "via-nginx.bin"
    source.write_bytes(payload)
    creds = Credentials(server.key, server.app_id, "nginx-consumer")
    file = asyncio.run(
        upload_async(
            source,
            server=nginx,
            credentials=creds,
            options=UploadOptions(parallel=4),
            state_dir=tmp_path / "state",
        )
    )
    with httpx.stream(
        "GET", f"{nginx}/file-storage/files/{file['id']}/download", headers=creds.headers()
    ) as res:
        assert res.status_code == 200
        digest = hashlib.sha256()
        for chunk in res.iter_bytes():
            digest.update(chunk)
    assert digest.hexdigest() == hashlib.sha256(payload).hexdigest()

    # nginx's $request_id reaches partway, comes back as Request-Id, and is in partway's log.
    res = httpx.get(f"{nginx}/file-storage/drives", headers=creds.headers())
    request_id = res.headers["request-id"]
    assert len(request_id) == 32
    wait_for_log_event(server, lambda e: e.get("request_id") == request_id)
    # With request buffering on, nginx would have spooled each 8 MiB part to disk and said so.
    assert "buffered to a temporary file" not in (prefix / "error.log").read_text()
