"""CORS is off by default (same origin) and answers only the configured origins when on."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.conftest import start_server, stop_server

PREFLIGHT = {
    "Origin": "https://app.example.test",
    "Access-Control-Request-Method": "PUT",
    "Access-Control-Request-Headers": "authorization,x-apideck-app-id,digest",
}


def test_cors_only_for_configured_origins(tmp_path: Path) -> None:
    plain = start_server(tmp_path / "plain")
    try:
        res = httpx.get(plain.base_url + "/healthz", headers={"Origin": PREFLIGHT["Origin"]})
        assert "access-control-allow-origin" not in res.headers
    finally:
        stop_server(plain)

    origins = json.dumps([PREFLIGHT["Origin"]])
    srv = start_server(tmp_path / "cors", {"PARTWAY_CORS_ORIGINS": origins})
    try:
        pre = httpx.options(srv.base_url + "/file-storage/upload-sessions/x", headers=PREFLIGHT)
        assert pre.status_code == 200
        assert pre.headers["access-control-allow-origin"] == PREFLIGHT["Origin"]
        assert "PUT" in pre.headers["access-control-allow-methods"]
        res = httpx.get(
            srv.base_url + "/file-storage/drives",
            headers={**srv.headers(), "Origin": PREFLIGHT["Origin"]},
        )
        assert res.headers["access-control-allow-origin"] == PREFLIGHT["Origin"]
        assert "request-id" in res.headers["access-control-expose-headers"]
        other = httpx.options(
            srv.base_url + "/file-storage/drives",
            headers={**PREFLIGHT, "Origin": "https://evil.test"},
        )
        assert other.status_code == 400
    finally:
        stop_server(srv)
