"""The routes Uppy's S3 plugin calls in Companion mode (http/s3_companion.py), over raw HTTP
against a real `partway serve` on Ceph RGW (or moto): the upload's parts go straight into the
store over presigned URLs, complete checks them against ListParts, and the file lands in its
folder. Then every refusal: bad ids and keys, another tenant, no credentials, a wrong ETag,
parts S3 would not assemble, a store with no presigned parts, and forged grants.
`GET /s3/params` (whole-file uploads) has tests/e2e/test_s3_params.py."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.backends import BUCKET, drop_database, new_database, new_s3_url, s3_client
from tests.conftest import (
    PARTWAY,
    Server,
    assert_clean_log,
    launch,
    start_server,
    stop_server,
)

from .helpers import MIB, assert_error, download
from .helpers import put_part as apideck_put_part

PART = 5 * MIB
MULTIPART = "/s3/multipart"


@pytest.fixture(scope="module")
def storage_url() -> str:
    return new_s3_url()


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    """PostgreSQL, as several servers on one S3 store would share it (the browser test of
    tests/e2e/test_uppy_s3.py runs on SQLite)."""
    url = new_database()
    yield url
    drop_database(url)


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, storage_url: str, database_url: str
) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("s3-companion")
    stores = {"s3": storage_url, "disk": str(tmp / "disk")}
    env = {
        "PARTWAY_STORAGE": json.dumps(stores),
        "PARTWAY_DEFAULT_SERVICE": "s3",
        "PARTWAY_DATABASE_URL": database_url,
    }
    srv = start_server(tmp, env)
    yield srv
    stop_server(srv)
    assert_clean_log(srv)


@pytest.fixture
def api(server: Server) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


def create(client: httpx.Client, filename: str, **metadata: Any) -> str:
    body = {"filename": filename, "type": "application/octet-stream", "metadata": metadata}
    res = client.post(MULTIPART, json=body)
    assert res.status_code == 200, res.text
    data = res.json()
    assert data["key"] == data["uploadId"]
    upload_id: str = data["uploadId"]
    return upload_id


def put_part(client: httpx.Client, upload_id: str, number: int, data: bytes) -> str:
    res = client.get(f"{MULTIPART}/{upload_id}/{number}", params={"key": upload_id})
    assert res.status_code == 200, res.text
    put = httpx.put(res.json()["url"], content=data, timeout=60)
    assert put.is_success, put.text
    etag: str = put.headers["etag"]
    return etag


def upload_parts(client: httpx.Client, upload_id: str, parts: list[bytes]) -> list[dict[str, Any]]:
    return [
        {"PartNumber": n, "ETag": put_part(client, upload_id, n, data)}
        for n, data in enumerate(parts, 1)
    ]


def complete(client: httpx.Client, upload_id: str, parts: list[dict[str, Any]]) -> httpx.Response:
    url = f"{MULTIPART}/{upload_id}/complete"
    return client.post(url, params={"key": upload_id}, json={"parts": parts})


def store_uploads(storage_url: str) -> list[dict[str, Any]]:
    prefix = urlsplit(storage_url).path.lstrip("/") + "/"
    client = s3_client(os.environ["PARTWAY_TEST_S3_ENDPOINT"])
    found: list[dict[str, Any]] = client.list_multipart_uploads(Bucket=BUCKET, Prefix=prefix).get(
        "Uploads", []
    )
    return found


def test_parts_go_to_the_store_and_the_file_into_its_folder(
    api: httpx.Client, storage_url: str
) -> None:
    res = api.post("/file-storage/folders", json={"name": "uppy", "parent_folder_id": "root"})
    assert res.status_code == 201, res.text
    folder = res.json()["data"]["id"]
    payload = os.urandom(2 * PART + 2 * MIB + 17)
    upload_id = create(api, "clip.bin", parent_folder_id=folder, name="clip.bin")
    # Opaque: neither the store's multipart upload id nor its object key.
    held = store_uploads(storage_url)
    assert held and all(upload_id not in (u["UploadId"], *u["Key"].split("/")) for u in held)

    signed = api.get(f"{MULTIPART}/{upload_id}/1", params={"key": upload_id}).json()
    assert parse_qs(urlsplit(signed["url"]).query)["X-Amz-Expires"] == ["3600"]
    assert 3500 < signed["expires"] <= 3600

    chunks = [payload[:PART], payload[PART : 2 * PART], payload[2 * PART :]]
    parts = upload_parts(api, upload_id, chunks)
    listed = api.get(f"{MULTIPART}/{upload_id}", params={"key": upload_id})
    assert listed.status_code == 200, listed.text
    assert listed.json() == [
        {"PartNumber": n, "Size": len(c), "ETag": p["ETag"]}
        for n, (c, p) in enumerate(zip(chunks, parts, strict=True), 1)
    ]

    done = complete(api, upload_id, parts)
    assert done.status_code == 200, done.text
    file_id = done.json()["file_id"]
    assert done.json()["location"].endswith(f"/file-storage/files/{file_id}")
    assert download(api, file_id).content == payload
    entry = api.get(f"/file-storage/files/{file_id}").json()["data"]
    assert entry["size"] == len(payload) and entry["path"] == "/uppy/clip.bin"
    assert [f["id"] for f in entry["parent_folders"]] == ["root", folder]
    # A retried complete answers the same file.
    again = complete(api, upload_id, parts)
    assert again.status_code == 200 and again.json()["file_id"] == file_id


def test_client_chosen_part_size_and_one_part(api: httpx.Client) -> None:
    payload = os.urandom(2 * (6 * MIB) + 5)  # 6 MiB parts, as Uppy's getChunkSize may choose
    upload_id = create(api, "six.bin")
    parts = upload_parts(api, upload_id, [payload[: 6 * MIB], payload[6 * MIB : 12 * MIB]])
    last = put_part(api, upload_id, 3, payload[12 * MIB :])
    done = complete(api, upload_id, [*parts, {"PartNumber": 3, "ETag": last}])
    assert done.status_code == 200, done.text
    assert download(api, done.json()["file_id"]).content == payload

    small = os.urandom(1234)  # under S3's minimum: a one-part upload is fine
    upload_id = create(api, "small.bin")
    done = complete(api, upload_id, upload_parts(api, upload_id, [small]))
    assert done.status_code == 200, done.text
    assert download(api, done.json()["file_id"]).content == small


def test_complete_refuses_what_the_store_does_not_hold(api: httpx.Client) -> None:
    upload_id = create(api, "refused.bin")
    chunks = [os.urandom(PART), os.urandom(1000)]
    parts = upload_parts(api, upload_id, chunks)
    wrong = [parts[0], {"PartNumber": 2, "ETag": '"0123456789abcdef0123456789abcdef"'}]
    body = assert_error(complete(api, upload_id, wrong), 400, "RequestValidationError")
    assert body["detail"]["bad_parts"] == [
        f"part 2: the store holds ETag {parts[1]['ETag']}, not {wrong[1]['ETag']}"
    ]
    body = assert_error(complete(api, upload_id, parts[:1]), 400)
    assert body["detail"]["bad_parts"] == ["part 2: in the store but not listed"]
    missing = [*parts, {"PartNumber": 3, "ETag": parts[0]["ETag"]}]
    assert assert_error(complete(api, upload_id, missing), 400)["detail"]["bad_parts"] == [
        "part 3: not in the store"
    ]
    # Still open: the right list completes it.
    done = complete(api, upload_id, parts)
    assert done.status_code == 200, done.text
    assert download(api, done.json()["file_id"]).content == b"".join(chunks)


def test_parts_s3_would_not_assemble_are_refused(api: httpx.Client) -> None:
    upload_id = create(api, "uneven.bin")
    parts = upload_parts(api, upload_id, [os.urandom(PART), os.urandom(PART + 1), b"x"])
    body = assert_error(complete(api, upload_id, parts), 400, "RequestValidationError")
    assert body["detail"]["bad_parts"] == [f"part 2: {PART + 1} bytes, the parts before it {PART}"]

    upload_id = create(api, "tiny-parts.bin")
    parts = upload_parts(api, upload_id, [b"a" * 1000, b"b" * 1000])
    body = assert_error(complete(api, upload_id, parts), 400)
    assert body["detail"]["bad_parts"] == ["parts of 1000 bytes: the store's minimum is 5242880"]

    upload_id = create(api, "gap.bin")
    first = put_part(api, upload_id, 1, os.urandom(PART))
    third = put_part(api, upload_id, 3, b"end")
    listed = [{"PartNumber": 1, "ETag": first}, {"PartNumber": 3, "ETag": third}]
    body = assert_error(complete(api, upload_id, listed), 400)
    assert body["detail"]["bad_parts"] == ["part 3: expected part 2"]

    upload_id = create(api, "empty.bin")
    body = assert_error(complete(api, upload_id, []), 400)
    assert "no parts" in body["message"]


def test_bad_ids_keys_and_part_numbers(api: httpx.Client) -> None:
    upload_id = create(api, "ids.bin")
    sign = f"{MULTIPART}/{upload_id}/1"
    assert_error(api.get(sign), 400, "RequestValidationError")  # no key
    assert_error(api.get(sign, params={"key": "ses_other"}), 404, "EntityNotFoundError")
    for number in ("0", "10001", "abc", "-1"):
        url = f"{MULTIPART}/{upload_id}/{number}"
        assert_error(api.get(url, params={"key": upload_id}), 400, "RequestValidationError")
    for unknown in ("ses_nope", "x" * 300, "../etc"):
        url = f"{MULTIPART}/{unknown}"
        assert_error(api.get(url, params={"key": unknown}), 404)
        assert_error(api.delete(url, params={"key": unknown}), 404)
    # A session of the Apideck API taking its parts through partway is no S3 upload here.
    res = api.post(
        "/file-storage/upload-sessions",
        json={"name": "proxied.bin", "parent_folder_id": "root", "size": 10},
    )
    proxied = res.json()["data"]["id"]
    assert_error(api.get(f"{MULTIPART}/{proxied}/1", params={"key": proxied}), 404)
    # Bodies.
    assert_error(api.post(MULTIPART, content=b"{"), 400, "RequestValidationError")
    assert_error(api.post(MULTIPART, json={"type": "x"}), 400, "RequestValidationError")
    bad_folder = {"filename": "f.bin", "metadata": {"parent_folder_id": 7}}
    assert_error(api.post(MULTIPART, json=bad_folder), 400, "RequestValidationError")
    no_folder = {"filename": "f.bin", "metadata": {"parent_folder_id": "fld_nope"}}
    assert_error(api.post(MULTIPART, json=no_folder), 404)
    bad_parts = {"parts": [{"PartNumber": "one", "ETag": "x"}]}
    url = f"{MULTIPART}/{upload_id}/complete"
    res = api.post(url, params={"key": upload_id}, json=bad_parts)
    assert_error(res, 400, "RequestValidationError")


def test_another_tenant_sees_no_upload(server: Server, api: httpx.Client) -> None:
    upload_id = create(api, "mine.bin")
    etag = put_part(api, upload_id, 1, b"mine")
    key = {"key": upload_id}
    with server.client("consumer-2") as other:
        assert_error(other.get(f"{MULTIPART}/{upload_id}/1", params=key), 404)
        assert_error(other.get(f"{MULTIPART}/{upload_id}", params=key), 404)
        parts = [{"PartNumber": 1, "ETag": etag}]
        res = other.post(f"{MULTIPART}/{upload_id}/complete", params=key, json={"parts": parts})
        assert_error(res, 404)
        assert_error(other.delete(f"{MULTIPART}/{upload_id}", params=key), 404)
    assert api.get(f"{MULTIPART}/{upload_id}", params=key).json()[0]["ETag"] == etag


def test_every_route_needs_credentials(server: Server) -> None:
    upload_id = "ses_whatever"
    key = {"key": upload_id}
    calls: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", MULTIPART, {"json": {"filename": "a.bin"}}),
        ("GET", f"{MULTIPART}/{upload_id}/1", {"params": key}),
        ("GET", f"{MULTIPART}/{upload_id}", {"params": key}),
        ("POST", f"{MULTIPART}/{upload_id}/complete", {"params": key, "json": {"parts": []}}),
        ("DELETE", f"{MULTIPART}/{upload_id}", {"params": key}),
        ("GET", "/s3/params", {"params": {"filename": "a.bin"}}),
        ("POST", "/companion/grants", {"json": {}}),
    ]
    wrong_key = {**server.headers(), "Authorization": "Bearer nope"}
    for method, path, kw in calls:
        for headers in ({}, wrong_key):
            res = httpx.request(method, server.base_url + path, headers=headers, **kw)
            assert_error(res, 401, "UnauthorizedError")


def test_abort_discards_the_store_upload(api: httpx.Client, storage_url: str) -> None:
    before = len(store_uploads(storage_url))
    upload_id = create(api, "aborted.bin")
    put_part(api, upload_id, 1, b"gone")
    assert len(store_uploads(storage_url)) == before + 1
    res = api.delete(f"{MULTIPART}/{upload_id}", params={"key": upload_id})
    assert res.status_code == 200 and res.json() == {}
    assert len(store_uploads(storage_url)) == before
    assert_error(api.get(f"{MULTIPART}/{upload_id}", params={"key": upload_id}), 404)


def test_stores_without_presigned_parts_take_no_multipart(api: httpx.Client) -> None:
    """Local disk takes the plugin's whole-file uploads (`GET /s3/params`,
    tests/e2e/test_s3_params.py) but no multipart ones."""
    res = api.post(
        MULTIPART, json={"filename": "local.bin"}, headers={"x-apideck-service-id": "disk"}
    )
    body = assert_error(res, 400, "ConnectorOperationUnsupportedError")
    assert "'disk'" in body["message"]


def grant(client: httpx.Client, **body: Any) -> str:
    res = client.post("/companion/grants", json=body)
    assert res.status_code == 200, res.text
    endpoint: str = res.json()["companion_endpoint"]
    return endpoint


def test_companion_grant_acts_for_its_tenant_only(server: Server, api: httpx.Client) -> None:
    endpoint = grant(api, expires_in=600)
    # No headers: the grant is the credential, for its own tenant's uploads.
    res = httpx.post(endpoint + MULTIPART, json={"filename": "granted.bin"})
    assert res.status_code == 200, res.text
    upload_id = res.json()["uploadId"]
    data = os.urandom(3000)
    signed = httpx.get(f"{endpoint}{MULTIPART}/{upload_id}/1", params={"key": upload_id})
    etag = httpx.put(signed.json()["url"], content=data).headers["etag"]
    parts = [{"PartNumber": 1, "ETag": etag}]
    url = f"{endpoint}{MULTIPART}/{upload_id}/complete"
    done = httpx.post(url, params={"key": upload_id}, json={"parts": parts})
    assert done.status_code == 200, done.text
    assert download(api, done.json()["file_id"]).content == data

    with server.client("consumer-2") as other:
        theirs = create(other, "theirs.bin")
        res = httpx.get(f"{endpoint}{MULTIPART}/{theirs}", params={"key": theirs})
        assert_error(res, 404, "EntityNotFoundError")
        # A grant edited to name consumer-2 is no grant.
        expires, app, consumer, service, key_hash, tag = endpoint.rsplit("/", 1)[1].split(".")
        forged = ".".join([expires, app, "Y29uc3VtZXItMg", service, key_hash, tag])
        base = endpoint.rsplit("/", 1)[0]
        res = httpx.get(f"{base}/{forged}{MULTIPART}/{theirs}", params={"key": theirs})
        assert_error(res, 401, "UnauthorizedError")
    later = f"{int(expires) + 1}.{app}.{consumer}.{service}.{key_hash}.{tag}"
    for token in ("nope", "1.a.b.c.d.e", later, f"{expires}.{app}.!.{service}.{key_hash}.{tag}"):
        res = httpx.post(f"{base}/{token}{MULTIPART}", json={"filename": "x.bin"})
        assert_error(res, 401, "UnauthorizedError")
    for ttl in (0, 10 * 86400, "long"):
        assert_error(api.post("/companion/grants", json={"expires_in": ttl}), 400)
    # A grant is a credential: the request log names its route, never the grant itself.
    assert tag not in server.log.read_text()
    assert f"/companion/{{grant}}{MULTIPART}" in server.log.read_text()


def test_complete_counts_the_upload_against_the_quota(server: Server, database_url: str) -> None:
    """The plugin never declares a size, so nothing was reserved: complete checks the parts'
    total against the consumer's quota and refuses, leaving the upload open."""
    quota = [*PARTWAY, "quota", "set", "--app-id", server.app_id, "--consumer-id", "tight"]
    env = {**os.environ, "PARTWAY_DATA_DIR": str(server.data_dir)}
    env["PARTWAY_DATABASE_URL"] = database_url
    subprocess.run([*quota, "--bytes", str(PART)], check=True, capture_output=True, env=env)
    with server.client("tight") as tight:
        upload_id = create(tight, "big.bin")
        parts = upload_parts(tight, upload_id, [os.urandom(PART), b"one byte too many"])
        assert_error(complete(tight, upload_id, parts), 402, "RequestLimitError")
        listed = tight.get(f"{MULTIPART}/{upload_id}", params={"key": upload_id})
        assert [p["PartNumber"] for p in listed.json()] == [1, 2]
        res = tight.delete(f"{MULTIPART}/{upload_id}", params={"key": upload_id})
        assert res.status_code == 200


def test_part_url_expiry_is_signed(api: httpx.Client) -> None:
    """A part URL carries its one-hour expiry under the signature: the store refuses the same
    URL with a later expiry."""
    if os.environ.get("PARTWAY_TEST_S3_KIND") == "moto":
        pytest.skip("moto checks no presigned URL's signature")
    upload_id = create(api, "late.bin")
    url = api.get(f"{MULTIPART}/{upload_id}/1", params={"key": upload_id}).json()["url"]
    assert parse_qs(urlsplit(url).query)["X-Amz-Expires"] == ["3600"]
    later = url.replace("X-Amz-Expires=3600", "X-Amz-Expires=999999")
    assert httpx.put(later, content=b"no").status_code == 403
    assert httpx.put(url, content=b"ok").is_success


def test_parts_partway_received_itself_keep_their_grid(api: httpx.Client) -> None:
    """An S3 upload is a session of the Apideck API too: once partway has recorded a part of
    it (sent through partway), complete cannot re-lay it out from the store and says so."""
    upload_id = create(api, "mixed.bin")
    proxied = apideck_put_part(api, upload_id, 0, os.urandom(1000))
    assert proxied.status_code == 200, proxied.text
    parts = [
        {"PartNumber": p["PartNumber"], "ETag": p["ETag"]}
        for p in api.get(f"{MULTIPART}/{upload_id}", params={"key": upload_id}).json()
    ]
    body = assert_error(complete(api, upload_id, parts), 422, "InvalidStateError")
    assert "received itself" in body["message"]


def test_a_grant_ends_with_its_key(tmp_path: Path, storage_url: str) -> None:
    """Revoking the key a grant was made with ends the grant (on a fresh server: a running one
    remembers a key's app for up to 30 s)."""
    env = {"PARTWAY_STORAGE": json.dumps({"s3": storage_url}), "PARTWAY_DEFAULT_SERVICE": "s3"}
    server = start_server(tmp_path, env)
    try:
        with server.client() as api:
            endpoint = grant(api)
        assert httpx.post(endpoint + MULTIPART, json={"filename": "a.bin"}).status_code == 200
    finally:
        stop_server(server)
    admin = {**os.environ, "PARTWAY_DATA_DIR": str(server.data_dir)}
    listed = subprocess.run(
        [*PARTWAY, "keys", "list", "--json"], env=admin, check=True, capture_output=True
    )
    (key,) = json.loads(listed.stdout)
    subprocess.run([*PARTWAY, "keys", "revoke", key["id"]], env=admin, check=True)
    port = int(server.base_url.rsplit(":", 1)[1])
    server.process = launch(server.data_dir, port, server.log, env)
    try:
        res = httpx.post(endpoint + MULTIPART, json={"filename": "b.bin"})
        assert "revoked" in assert_error(res, 401, "UnauthorizedError")["message"]
    finally:
        stop_server(server)
    assert_clean_log(server)
