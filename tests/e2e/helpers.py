"""Small HTTP helpers for the end-to-end tests."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from apideck_unify import Apideck
from awscrt import checksums
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from tests.backends import new_s3_url
from tests.conftest import Server, assert_clean_log, start_server, stop_server

SESSIONS = "/file-storage/upload-sessions"
MIB = 1024 * 1024


def sha1_header(data: bytes) -> str:
    return "sha=" + base64.b64encode(hashlib.sha1(data).digest()).decode()


def sha256_header(data: bytes) -> str:
    return "sha-256=" + base64.b64encode(hashlib.sha256(data).digest()).decode()


def assert_error(res: httpx.Response, status: int, type_name: str | None = None) -> dict[str, Any]:
    assert res.status_code == status, res.text
    assert res.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = res.json()
    assert body["status_code"] == status
    assert set(body) >= {"status_code", "error", "type_name", "message", "detail", "ref"}
    if type_name is not None:
        assert body["type_name"] == type_name, body
    return body


def create_session(
    client: httpx.Client, name: str, size: int | None, folder: str = "root", **kw: Any
) -> str:
    res = client.post(SESSIONS, json={"name": name, "parent_folder_id": folder, "size": size}, **kw)
    assert res.status_code == 201, res.text
    session_id: str = res.json()["data"]["id"]
    return session_id


def get_session(client: httpx.Client, session_id: str) -> dict[str, Any]:
    res = client.get(f"{SESSIONS}/{session_id}")
    assert res.status_code == 200, res.text
    data: dict[str, Any] = res.json()["data"]
    return data


def put_part(
    client: httpx.Client, session_id: str, number: int | float | str, body: bytes, **headers: str
) -> httpx.Response:
    return client.put(
        f"{SESSIONS}/{session_id}",
        params={"part_number": str(number)},
        content=body,
        headers={"content-type": "application/octet-stream", **headers},
    )


def finish(client: httpx.Client, session_id: str, **headers: str) -> httpx.Response:
    return client.post(f"{SESSIONS}/{session_id}/finish", headers=headers)


def download(client: httpx.Client, file_id: str, **headers: str) -> httpx.Response:
    return client.get(f"/file-storage/files/{file_id}/download", headers=headers)


def upload_whole(client: httpx.Client, name: str, payload: bytes, folder: str = "root") -> str:
    session_id = create_session(client, name, len(payload), folder)
    part_size = get_session(client, session_id)["part_size"]
    for number, start in enumerate(range(0, max(len(payload), 1), part_size)):
        res = put_part(client, session_id, number, payload[start : start + part_size])
        assert res.status_code == 200, res.text
    res = finish(client, session_id)
    assert res.status_code == 201, res.text
    file_id: str = res.json()["data"]["id"]
    return file_id


def python_sdk(server: Any, consumer_id: str) -> Apideck:
    """The official Python SDK on `server` for one consumer, without its own retries (a test
    must see every answer); use it as a context manager."""
    return Apideck(
        api_key=server.key,
        app_id=server.app_id,
        consumer_id=consumer_id,
        server_url=server.base_url,
        retry_config=None,
    )


def crc32c_header(data: bytes) -> str:
    value: int = checksums.crc32c(data)
    return "crc32c=" + base64.b64encode(value.to_bytes(4, "big")).decode()


def disk_and_s3_server(tmp: Path) -> Iterator[Server]:
    """A server with two services, `disk` (the default) and `s3` (a bucket of its own), for a
    module fixture to yield from."""
    stores = {"disk": str(tmp / "disk"), "s3": new_s3_url()}
    env = {"PARTWAY_STORAGE": json.dumps(stores), "PARTWAY_DEFAULT_SERVICE": "disk"}
    srv = start_server(tmp, env)
    yield srv
    stop_server(srv)
    assert_clean_log(srv)


def metric_samples(text: str) -> list[Sample]:
    """Every sample of a /metrics page, read with prometheus_client's own parser."""
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples]


def metric(source: httpx.Client | str, name: str, **labels: str) -> float:
    """The value of the sample `name` with exactly `labels` on a server's /metrics page (it
    must be there). `source`: a client of the server (its connection, e.g. one held open at the
    connection cap) or the server's base URL."""
    if isinstance(source, httpx.Client):
        page = source.get("/metrics")
    else:
        page = httpx.get(source + "/metrics")
    values = [s.value for s in metric_samples(page.text) if s.name == name and s.labels == labels]
    assert len(values) == 1, f"{name} {labels}: {len(values)} samples on /metrics"
    return values[0]


def received_bytes(base_url: str) -> float:
    """partway's own counter of request body bytes."""
    return metric(base_url, "partway_http_received_bytes_total")
