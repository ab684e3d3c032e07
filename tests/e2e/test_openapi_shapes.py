"""The shapes partway's OpenAPI document gives issue #20's routes (http/openapi_direct.py) are
those of real answers: a real `partway serve` with a local-disk service and an S3 service (Ceph
RGW or moto) answers direct sessions, their part URLs, the whole-file URLs of `/s3/params` and
Uppy's companion routes, and each answer is validated against the document it serves. The
shapes are closed, so a field sent and not documented fails too."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator

from tests.conftest import Server

from .helpers import SESSIONS, disk_and_s3_server

DIRECT = {"x-partway-upload-mode": "direct"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from disk_and_s3_server(tmp_path_factory.mktemp("openapi-shapes"))


@pytest.fixture(scope="module")
def document(server: Server) -> dict[str, Any]:
    found: dict[str, Any] = httpx.get(server.base_url + "/openapi.json").json()
    return found


def matches(document: dict[str, Any], path: str, method: str, res: httpx.Response) -> Any:
    """The answer's body, once valid against the schema the document gives its status."""
    responses = document["paths"][path][method]["responses"]
    assert str(res.status_code) in responses, (path, method, res.status_code, res.text)
    schema = responses[str(res.status_code)]["content"]["application/json"]["schema"]
    root = {**schema, "components": document["components"]}
    checker = Draft202012Validator.FORMAT_CHECKER
    Draft202012Validator(root, format_checker=checker).validate(res.json())
    return res.json()


def test_direct_sessions_on_local_disk(server: Server, document: dict[str, Any]) -> None:
    one = SESSIONS + "/{id}"
    with server.client() as api:
        payload = os.urandom(3000)
        body = {"name": "direct.bin", "parent_folder_id": "root", "size": len(payload)}
        created = api.post(SESSIONS, json=body, headers=DIRECT)
        session_id = matches(document, SESSIONS, "post", created)["data"]["id"]
        got = matches(document, one, "get", api.get(f"{SESSIONS}/{session_id}"))["data"]
        assert got["upload_mode"] == "direct" and len(got["direct_parts"]) == 1
        listed = api.get(f"{SESSIONS}/{session_id}/direct")
        matches(document, one + "/direct", "get", listed)
        claim = {"parts": [{"part_number": 0}]}
        claimed = api.post(f"{SESSIONS}/{session_id}/direct", json=claim)
        (ticket,) = matches(document, one + "/direct", "post", claimed)["data"]["parts"]
        put = httpx.put(ticket["url"], content=payload, headers=ticket["headers"])
        matches(document, "/signed/parts/{id}/{number}", "put", put)
        finished = api.post(f"{SESSIONS}/{session_id}/finish")
        assert finished.status_code == 201, finished.text
        done = matches(document, one, "get", api.get(f"{SESSIONS}/{session_id}"))["data"]
        assert done["success"] and "file_id" in done and done["direct_parts"] == []

        proxied = api.post(SESSIONS, json={**body, "name": "proxied.bin"})
        proxied_id = proxied.json()["data"]["id"]
        got = matches(document, one, "get", api.get(f"{SESSIONS}/{proxied_id}"))["data"]
        assert got["upload_mode"] == "proxied" and "direct_parts" not in got


def test_direct_sessions_on_s3(server: Server, document: dict[str, Any]) -> None:
    with server.client() as api:
        api.headers["x-apideck-service-id"] = "s3"
        body = {"name": "direct-s3.bin", "parent_folder_id": "root", "size": 7 * 1024 * 1024}
        created = api.post(SESSIONS, json=body, headers=DIRECT)
        session_id = created.json()["data"]["id"]
        got = api.get(f"{SESSIONS}/{session_id}")
        parts = matches(document, SESSIONS + "/{id}", "get", got)["data"]["direct_parts"]
        assert parts and all("X-Amz-Signature=" in p["url"] for p in parts)
        md5 = "1B2M2Y8AsgTpgAmY7PhCfg=="
        claimed = api.post(
            f"{SESSIONS}/{session_id}/direct", json={"parts": [{"part_number": 0, "md5": md5}]}
        )
        (ticket,) = matches(document, SESSIONS + "/{id}/direct", "post", claimed)["data"]["parts"]
        assert ticket["headers"]


def test_s3_params_and_the_whole_file_urls(server: Server, document: dict[str, Any]) -> None:
    with server.client() as api:
        for method, name in (("post", "form.bin"), ("put", "put.bin")):
            res = api.get("/s3/params", params={"filename": name, "type": "text/plain"})
            answer = matches(document, "/s3/params", "get", res)
            if method == "post":
                sent = httpx.post(answer["url"], data=answer["fields"], files={"file": b"x"})
            else:
                sent = httpx.put(answer["url"], content=b"x")
            entry = matches(document, "/signed/uploads", method, sent)["data"]
            assert entry["name"] == name


def test_companion_routes_on_s3(server: Server, document: dict[str, Any]) -> None:
    with server.client() as api:
        api.headers["x-apideck-service-id"] = "s3"
        grant = api.post("/companion/grants", json={"expires_in": 600})
        matches(document, "/companion/grants", "post", grant)
        base = "/s3/multipart"
        created = api.post(base, json={"filename": "uppy.bin", "metadata": {}})
        upload_id = matches(document, base, "post", created)["uploadId"]
        key = {"key": upload_id}
        signed = api.get(f"{base}/{upload_id}/1", params=key)
        url = matches(document, base + "/{upload_id}/{part_number}", "get", signed)["url"]
        etag = httpx.put(url, content=b"part one").headers["etag"]
        listed = api.get(f"{base}/{upload_id}", params=key)
        assert matches(document, base + "/{upload_id}", "get", listed)[0]["ETag"] == etag
        parts = {"parts": [{"PartNumber": 1, "ETag": etag}]}
        completed = api.post(f"{base}/{upload_id}/complete", params=key, json=parts)
        matches(document, base + "/{upload_id}/complete", "post", completed)

        other = api.post(base, json={"filename": "dropped.bin"}).json()["uploadId"]
        aborted = api.delete(f"{base}/{other}", params={"key": other})
        matches(document, base + "/{upload_id}", "delete", aborted)
