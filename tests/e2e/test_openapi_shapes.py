"""The shapes partway's OpenAPI document gives issue #20's routes (http/openapi_direct.py) are
those of real answers: a real `partway serve` with a local-disk service and an S3 service (Ceph
RGW or moto) answers direct sessions, their part URLs, the whole-file URLs of `/s3/params` and
Uppy's companion routes, and each answer is validated against the document it serves. The
shapes are closed, so a field sent and not documented fails too."""

from __future__ import annotations

import base64
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


# -- the resumable-upload front (/uploads: tus v1 and the IETF draft), issue #19 -----------------

UPLOADS = "/uploads"
UPLOAD = UPLOADS + "/{id}"
TUS = {"Tus-Resumable": "1.0.0"}
DRAFT = {"Upload-Draft-Interop-Version": "6"}
OCTETS = {"Content-Type": "application/offset+octet-stream"}
PARTIAL = {"Content-Type": "application/partial-upload"}
# The protocol's own headers: none may be sent without being documented for its status.
OWN = ("tus-", "upload-")


def answered(document: dict[str, Any], path: str, method: str, res: httpx.Response) -> None:
    """A header-only answer as documented: its status is there, the headers it declares
    required are sent, every Tus-*/Upload-* header sent is declared, every declared header sent
    has a valid value, and a body has a declared media type and matches its schema."""
    responses = document["paths"][path][method]["responses"]
    status = str(res.status_code)
    assert status in responses, (path, method, status, res.headers, res.text)
    spec = responses[status]
    declared = {name.lower(): h for name, h in spec.get("headers", {}).items()}
    checker = Draft202012Validator.FORMAT_CHECKER
    for name, header in declared.items():
        if header.get("required"):
            assert name in res.headers, (path, method, status, name, res.headers)
        if name in res.headers:
            Draft202012Validator(header["schema"], format_checker=checker).validate(
                res.headers[name]
            )
    sent = [n for n in res.headers if n.lower().startswith(OWN) or n.lower() == "location"]
    undocumented = [n for n in sent if n.lower() not in declared]
    assert not undocumented, (path, method, status, undocumented)
    if method == "head" or not res.content:
        return
    media = res.headers["content-type"].split(";")[0].strip()
    content = spec.get("content", {})
    assert media in content, (path, method, status, media, list(content))
    schema = {**content[media]["schema"], "components": document["components"]}
    body = res.json() if media.endswith("json") else res.text
    Draft202012Validator(schema, format_checker=checker).validate(body)


def metadata(name: str) -> str:
    return "filename " + base64.b64encode(name.encode()).decode()


def test_tus_answers_match_the_document(server: Server, document: dict[str, Any]) -> None:
    with server.client() as api:
        for extra in ({}, TUS, DRAFT):
            answered(document, UPLOADS, "options", api.options(UPLOADS, headers=extra))
        meta = {**TUS, "Upload-Metadata": metadata("tus-shapes.bin")}
        created = api.post(UPLOADS, headers={**meta, "Upload-Length": "10"})
        answered(document, UPLOADS, "post", created)
        url = created.headers["location"]
        answered(document, UPLOAD, "options", api.options(url))
        answered(document, UPLOAD, "head", api.head(url, headers=TUS))
        first = api.patch(url, content=b"01234", headers={**TUS, **OCTETS, "Upload-Offset": "0"})
        answered(document, UPLOAD, "patch", first)
        for status, headers in (
            (409, {**TUS, **OCTETS, "Upload-Offset": "3"}),
            (415, {**TUS, "Content-Type": "text/plain", "Upload-Offset": "5"}),
            (
                460,
                {
                    **TUS,
                    **OCTETS,
                    "Upload-Offset": "5",
                    "Upload-Checksum": "sha1 " + "A" * 27 + "=",
                },
            ),
            (412, {**OCTETS, "Upload-Offset": "5"}),
        ):
            refused = api.patch(url, content=b"56789", headers=headers)
            assert refused.status_code == status, refused.text
            answered(document, UPLOAD, "patch", refused)
        last = api.patch(url, content=b"56789", headers={**TUS, **OCTETS, "Upload-Offset": "5"})
        answered(document, UPLOAD, "patch", last)
        done = api.head(url, headers=TUS)
        assert done.headers["upload-offset"] == done.headers["upload-length"] == "10"
        answered(document, UPLOAD, "head", done)
        overridden = api.post(url, headers={**TUS, "X-HTTP-Method-Override": "HEAD"})
        answered(document, UPLOAD, "post", overridden)

        # Creation with upload, a deferred length, concatenation, termination.
        with_body = {**meta, **OCTETS, "Upload-Length": "3"}
        answered(document, UPLOADS, "post", api.post(UPLOADS, content=b"abc", headers=with_body))
        deferred = api.post(UPLOADS, headers={**TUS, "Upload-Defer-Length": "1"})
        answered(document, UPLOADS, "post", deferred)
        unknown = api.head(deferred.headers["location"], headers=TUS)
        assert unknown.headers["upload-defer-length"] == "1"
        answered(document, UPLOAD, "head", unknown)
        pieces = []
        for piece in (b"ab", b"cd"):
            part = {**TUS, **OCTETS, "Upload-Concat": "partial", "Upload-Length": "2"}
            res = api.post(UPLOADS, content=piece, headers=part)
            answered(document, UPLOADS, "post", res)
            pieces.append(res.headers["location"])
        final = {**meta, "Upload-Concat": "final;" + " ".join(pieces)}
        answered(document, UPLOADS, "post", api.post(UPLOADS, headers=final))
        gone = api.delete(deferred.headers["location"], headers=TUS)
        assert gone.status_code == 204
        answered(document, UPLOAD, "delete", gone)
        missing = api.head(deferred.headers["location"], headers=TUS)
        assert missing.status_code == 404
        answered(document, UPLOAD, "head", missing)
        refused = api.post(UPLOADS, headers={"Upload-Length": "1"})
        assert refused.status_code == 412
        answered(document, UPLOADS, "post", refused)


def test_draft_answers_match_the_document(server: Server, document: dict[str, Any]) -> None:
    with server.client() as api:
        begin = {**DRAFT, "Upload-Complete": "?0", "Upload-Metadata": metadata("draft.bin")}
        created = api.post(UPLOADS, content=b"abc", headers=begin)
        assert created.status_code == 201, created.text
        answered(document, UPLOADS, "post", created)
        url = created.headers["location"]
        answered(document, UPLOAD, "options", api.options(url, headers=DRAFT))
        answered(document, UPLOAD, "head", api.head(url, headers=DRAFT))
        more = {**DRAFT, **PARTIAL, "Upload-Offset": "3", "Upload-Complete": "?0"}
        answered(document, UPLOAD, "patch", api.patch(url, content=b"de", headers=more))
        stale = api.patch(url, content=b"fg", headers=more)
        assert stale.status_code == 409
        answered(document, UPLOAD, "patch", stale)
        assert stale.json()["expected-offset"] == 5
        end = {**more, "Upload-Offset": "5", "Upload-Complete": "?1"}
        finished = api.patch(url, content=b"fg", headers=end)
        assert finished.status_code == 200, finished.text
        answered(document, UPLOAD, "patch", finished)
        answered(document, UPLOAD, "head", api.head(url, headers=DRAFT))

        undecided = api.post(UPLOADS, headers=DRAFT)  # no Upload-Complete
        assert undecided.status_code == 400
        answered(document, UPLOADS, "post", undecided)
        other = api.post(UPLOADS, headers={**DRAFT, "Upload-Complete": "?0"})
        cancelled = api.delete(other.headers["location"], headers=DRAFT)
        assert cancelled.status_code == 204
        answered(document, UPLOAD, "delete", cancelled)
        missing = api.patch(other.headers["location"], content=b"x", headers=more)
        answered(document, UPLOAD, "patch", missing)
