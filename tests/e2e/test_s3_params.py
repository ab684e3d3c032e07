"""`GET /s3/params`, the whole-file path of Uppy's S3 plugin in Companion mode (and of any
client that sends a file in one request), over raw HTTP against a real `partway serve` with a
local-disk service, an S3 service (Ceph RGW or moto) and an Azure one (Azurite): the answer's
URL is partway's own and signed; the file POSTed to it as a form (as the plugin sends it) or PUT
as a body becomes a file in its folder. Then the refusals: forged or expired URLs, a form without
its file, a taken name, no credentials, a body cut short (the upload stays open for a retry), and
a file larger than one part may be (413, nothing recorded)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from tests.backends import (
    BUCKET,
    azure_connection_string,
    external,
    new_azure_url,
    new_s3_url,
    s3_client,
)
from tests.conftest import Server, assert_clean_log, log_events, start_server, stop_server

from .helpers import MIB, SESSIONS, assert_error, download

SERVICES = ("disk", "s3", "azure")
# The largest part the server takes, so the largest file one request may carry: above S3's
# 5 MiB minimum part, small enough for a test to go over it.
LARGEST = 6 * MIB


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Service id → storage URL."""
    disk = tmp_path_factory.mktemp("s3-params-disk")
    return {"disk": str(disk), "s3": new_s3_url(), "azure": new_azure_url()[0]}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, stores: dict[str, str]) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("s3-params")
    env = {
        "AZURE_STORAGE_CONNECTION_STRING": azure_connection_string(),
        "PARTWAY_STORAGE": json.dumps(stores),
        "PARTWAY_DEFAULT_SERVICE": "disk",
        "PARTWAY_DEFAULT_PART_SIZE": str(LARGEST),
        "PARTWAY_MAX_PART_SIZE": str(LARGEST),
    }
    srv = start_server(tmp, env)
    yield srv
    stop_server(srv)
    assert_clean_log(srv)


@pytest.fixture(params=SERVICES)
def api(request: pytest.FixtureRequest, server: Server) -> Iterator[httpx.Client]:
    with server.client() as client:
        client.headers["x-apideck-service-id"] = request.param
        yield client


def named(client: httpx.Client, name: str) -> str:
    """A name of its own per service (both share the tenant's folders)."""
    return f"{client.headers['x-apideck-service-id']}-{name}"


def params(client: httpx.Client, filename: str, **metadata: str) -> dict[str, Any]:
    """What the plugin asks: GET /s3/params?filename=&type=&metadata[name]=…"""
    query = {"filename": named(client, filename), "type": "application/octet-stream"}
    query.update({f"metadata[{k}]": v for k, v in metadata.items()})
    res = client.get("/s3/params", params=query)
    assert res.status_code == 200, res.text
    found: dict[str, Any] = res.json()
    return found


def post_form(answer: dict[str, Any], data: bytes, **extra: Any) -> httpx.Response:
    """The plugin's POST: the fields, then `file` last (multipart/form-data)."""
    fields = {**answer["fields"], **extra}
    files = {"file": ("ignored-name.bin", data, "application/octet-stream")}
    return httpx.post(answer["url"], data=fields, files=files, timeout=60)


def test_a_form_post_becomes_a_file_in_its_folder(api: httpx.Client) -> None:
    res = api.post(
        "/file-storage/folders", json={"name": named(api, "whole"), "parent_folder_id": "root"}
    )
    assert res.status_code == 201, res.text
    folder = res.json()["data"]["id"]
    answer = params(api, "photo.jpg", parent_folder_id=folder, caption="kept by the plugin")
    assert answer["method"] == "POST"
    assert answer["headers"] == {}
    assert 3000 < answer["expires"] <= 3600
    assert set(answer["fields"]) == {"key"}
    url = urlsplit(answer["url"])
    assert url.path == "/signed/uploads"
    assert parse_qs(url.query)["id"] == [answer["fields"]["key"]]
    payload = os.urandom(3 * MIB + 11)
    done = post_form(answer, payload)
    assert done.status_code == 201, done.text
    entry = done.json()["data"]
    assert entry["name"] == named(api, "photo.jpg")
    assert entry["size"] == len(payload)
    assert entry["parent_folders"][-1]["id"] == folder
    assert download(api, entry["id"]).content == payload
    listed = api.get("/file-storage/files", params={"filter[folder_id]": folder}).json()
    assert [f["id"] for f in listed["data"]] == [entry["id"]]
    # A retried POST (its first answer lost) answers the same file.
    again = post_form(answer, payload)
    assert again.status_code == 201, again.text
    assert again.json()["data"]["id"] == entry["id"]


def test_empty_file_and_put_body(api: httpx.Client) -> None:
    # The plugin sends an empty file this way even with shouldUseMultipart: true.
    done = post_form(params(api, "empty.txt"), b"")
    assert done.status_code == 201, done.text
    assert done.json()["data"]["size"] == 0
    assert download(api, done.json()["data"]["id"]).content == b""
    payload = os.urandom(70_000)
    put = httpx.put(params(api, "put.bin")["url"], content=payload)
    assert put.status_code == 201, put.text
    assert download(api, put.json()["data"]["id"]).content == payload


def test_forged_and_mismatched_urls_are_refused(api: httpx.Client) -> None:
    answer = params(api, "target.bin")
    url = urlsplit(answer["url"])
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    base = f"{url.scheme}://{url.netloc}{url.path}"
    other = params(api, "other.bin")["fields"]["key"]
    forged = [
        {**query, "id": other},
        {**query, "consumer_id": "consumer-2"},
        {**query, "expires": str(int(query["expires"]) + 60)},
        # Another first character: a tag starting with "x" itself (1 in 64) stayed valid.
        {
            **query,
            "signature": ("y" if query["signature"][0] == "x" else "x") + query["signature"][1:],
        },
        {k: v for k, v in query.items() if k != "signature"},
    ]
    for bad in forged:
        res = httpx.post(f"{base}?{urlencode(bad)}", data=answer["fields"], files={"file": b"x"})
        assert_error(res, 404, "EntityNotFoundError")
    # The form's key must name this upload; the form must carry the file.
    assert_error(post_form(answer, b"x", key=other), 400, "RequestValidationError")
    no_file = httpx.post(answer["url"], data=answer["fields"], files={"other": b"x"})
    assert "no file field" in assert_error(no_file, 400)["message"]
    not_form = httpx.post(answer["url"], content=b"x", headers={"content-type": "text/plain"})
    assert_error(not_form, 400)
    # None of that touched the upload: the right form still lands.
    done = post_form(answer, b"finally")
    assert done.status_code == 201, done.text
    assert download(api, done.json()["data"]["id"]).content == b"finally"


def test_a_cut_body_leaves_the_upload_open(api: httpx.Client) -> None:
    answer = params(api, "cut.bin")
    boundary = "cutcutcut"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="key"\r\n\r\n'
        f"{answer['fields']['key']}\r\n--{boundary}\r\n"
        'Content-Disposition: form-data; name="file"; filename="cut.bin"\r\n\r\n'
    ).encode()
    headers = {"content-type": f"multipart/form-data; boundary={boundary}"}
    cut = httpx.post(answer["url"], content=head + b"no closing delimiter", headers=headers)
    assert "ended inside the file" in assert_error(cut, 400)["message"]
    session = api.get(f"/file-storage/upload-sessions/{answer['fields']['key']}")
    assert session.status_code == 200, session.text
    payload = os.urandom(5000)
    done = post_form(answer, payload)
    assert done.status_code == 201, done.text
    assert download(api, done.json()["data"]["id"]).content == payload


def test_params_refusals(server: Server, api: httpx.Client) -> None:
    params(api, "taken.bin")
    res = api.get("/s3/params", params={"filename": named(api, "taken.bin")})
    assert_error(res, 409)
    assert_error(api.get("/s3/params"), 400, "RequestValidationError")
    bad_folder = {"filename": "a.bin", "metadata[parent_folder_id]": "nope"}
    assert_error(api.get("/s3/params", params=bad_folder), 404)
    res = httpx.get(f"{server.base_url}/s3/params", params={"filename": "a.bin"})
    assert_error(res, 401, "UnauthorizedError")


def test_a_companion_grant_serves_params(server: Server, api: httpx.Client) -> None:
    res = api.post("/companion/grants", json={"expires_in": 600})
    assert res.status_code == 200, res.text
    endpoint = res.json()["companion_endpoint"]
    answer = httpx.get(
        endpoint + "/s3/params", params={"filename": named(api, "granted.txt")}
    ).json()
    done = post_form(answer, b"granted bytes")
    assert done.status_code == 201, done.text
    assert download(api, done.json()["data"]["id"]).content == b"granted bytes"
    # The signature never reaches the request log.
    signature = parse_qs(urlsplit(answer["url"]).query)["signature"][0]
    assert signature not in server.log.read_text()


def stored_bytes(url: str) -> int:
    """Bytes a store holds under a storage URL: files (allocated blocks, as local objects are
    written in place), S3 objects and parts of unfinished uploads, Azure blocks of either kind."""
    if url.startswith("s3://"):
        prefix = url.split("?", 1)[0].removeprefix(f"s3://{BUCKET}/")
        client = s3_client(external()[1])
        found = client.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
        total: int = sum(o["Size"] for o in found)
        for up in client.list_multipart_uploads(Bucket=BUCKET, Prefix=prefix).get("Uploads", []):
            listed = client.list_parts(Bucket=BUCKET, Key=up["Key"], UploadId=up["UploadId"])
            total += sum(part["Size"] for part in listed.get("Parts", []))
        return total
    if url.startswith("azure://"):
        from azure.storage.blob import BlobServiceClient

        prefix = url.removeprefix(f"azure://{BUCKET}/")
        conn = azure_connection_string()
        with BlobServiceClient.from_connection_string(conn) as service:
            container = service.get_container_client(BUCKET)
            total = 0
            for blob in container.list_blobs(name_starts_with=prefix):
                committed, uncommitted = container.get_blob_client(blob.name).get_block_list("all")
                total += sum(b.size for b in committed + uncommitted)
            return total
    return sum(f.stat().st_blocks * 512 for f in Path(url).rglob("*") if f.is_file())


def test_a_file_over_the_one_part_limit_is_refused_and_nothing_is_stored(
    server: Server, api: httpx.Client, stores: dict[str, str]
) -> None:
    """One request carries one part: a larger file must go multipart. Refused with 413 and the
    Apideck error body before a byte of the file is read, as a PUT body and as a form (from the
    Content-Length the form's file is sent with); the sessions stay open with no part."""
    store = stores[api.headers["x-apideck-service-id"]]
    payload = os.urandom(LARGEST + 1)
    form = params(api, "too-big-form.bin")
    put = params(api, "too-big-put.bin")
    before = stored_bytes(store)
    refused = [post_form(form, payload), httpx.put(put["url"], content=payload, timeout=60)]
    for res in refused:
        body = assert_error(res, 413, "PayloadTooLargeError")
        assert str(LARGEST) in body["message"], body
    assert stored_bytes(store) == before
    for answer in (form, put):
        assert_no_part(server, api, answer["fields"]["key"])
    # Still usable with a file that fits.
    done = post_form(form, payload[:LARGEST])
    assert done.status_code == 201, done.text
    assert download(api, done.json()["data"]["id"]).content == payload[:LARGEST]


def test_a_form_of_unknown_length_is_cut_at_the_limit(server: Server, api: httpx.Client) -> None:
    """Sent chunked, a form says nothing of its size: its file is read up to the limit, then
    refused (413) with no part recorded."""
    answer = params(api, "too-big-chunked.bin")
    boundary = "chunkedchunked"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="key"\r\n\r\n'
        f"{answer['fields']['key']}\r\n--{boundary}\r\n"
        'Content-Disposition: form-data; name="file"; filename="big.bin"\r\n\r\n'
    ).encode()

    def body() -> Iterator[bytes]:
        yield head
        for _ in range(LARGEST // MIB + 1):
            yield os.urandom(MIB)
        yield f"\r\n--{boundary}--\r\n".encode()

    headers = {"content-type": f"multipart/form-data; boundary={boundary}"}
    res = httpx.post(answer["url"], content=body(), headers=headers, timeout=60)
    assert_error(res, 413, "PayloadTooLargeError")
    assert_no_part(server, api, answer["fields"]["key"])


def assert_no_part(server: Server, api: httpx.Client, session_id: str) -> None:
    session = api.get(f"{SESSIONS}/{session_id}").json()["data"]
    assert session["uploaded_parts"] == [], session
    recorded = [
        e
        for e in log_events(server)
        if e.get("event") == "part.recorded" and e.get("session") == session_id
    ]
    assert recorded == []
