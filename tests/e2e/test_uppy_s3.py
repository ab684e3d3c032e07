"""Uppy (`@uppy/core`, `@uppy/dashboard`, `@uppy/aws-s3` in Companion mode, pinned in
tests/uppy-s3/package-lock.json) in headless Chromium, uploading through the Dashboard's own
button: the plugin calls a real `partway serve`'s /s3/multipart routes from another origin
(CORS) and PUTs each part straight into Ceph RGW (or moto) over the URLs partway presigns,
reading their ETags through the bucket's CORS rules; paused and resumed, it asks for the
store's parts and sends only the rest; on local disk it reports the refusal of multipart
uploads, and sends whole files (`GET /s3/params`, a form POST to partway's signed URL) on
both. The page is tests/uppy-s3/page.js, bundled by the locked esbuild; the bytes are read back
through the Apideck API."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.sync_api import FilePayload, Page, Request

from tests.backends import BUCKET, new_s3_url, s3_client
from tests.conftest import Server, assert_clean_log, start_server, stop_server

from .helpers import MIB, download, received_bytes
from .npm_pages import uppy_site, wait_until

UPPY = Path(__file__).resolve().parent.parent / "uppy-s3"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The test page, served from another origin than partway's and the store's, so every call
    the plugin makes is cross-origin."""
    with uppy_site(UPPY, "@uppy/aws-s3", tmp_path_factory.mktemp("uppy-s3-site")) as origin:
        yield origin


@pytest.fixture(scope="module")
def bucket_cors(site: str) -> Iterator[None]:
    """What an operator sets on the bucket for browsers to PUT parts into it: the page's
    origin, PUT, and the ETag header exposed (the plugin reads each part's ETag)."""
    store = s3_client(new_s3_url().split("endpoint_url=", 1)[1])
    rule = {
        "AllowedOrigins": [site],
        "AllowedMethods": ["PUT"],
        "AllowedHeaders": ["*"],
        "ExposeHeaders": ["ETag"],
        "MaxAgeSeconds": 60,
    }
    store.put_bucket_cors(Bucket=BUCKET, CORSConfiguration={"CORSRules": [rule]})
    yield
    store.delete_bucket_cors(Bucket=BUCKET)


@pytest.fixture(scope="module")
def server(
    site: str, bucket_cors: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("uppy-s3")
    env = {
        "PARTWAY_CORS_ORIGINS": json.dumps([site]),
        "PARTWAY_STORAGE": json.dumps({"s3": new_s3_url(), "disk": str(tmp / "disk")}),
        "PARTWAY_DEFAULT_SERVICE": "s3",
    }
    srv = start_server(tmp, env)
    yield srv
    stop_server(srv)
    assert_clean_log(srv)


def companion_endpoint(server: Server, service: str) -> str:
    """What the app's backend asks partway for, with the tenant's credentials, and hands to
    the page (which never sees the API key)."""
    res = httpx.post(
        server.base_url + "/companion/grants",
        headers=server.headers(**{"x-apideck-service-id": service}),
        json={"expires_in": 600},
    )
    assert res.status_code == 200, res.text
    endpoint: str = res.json()["companion_endpoint"]
    return endpoint


def open_uppy(page: Page, site: str, endpoint: str, folder_id: str, multipart: bool = True) -> None:
    page.goto(site + "/uppy.html")
    config = {"companionEndpoint": endpoint, "folderId": folder_id, "multipart": multipart}
    page.evaluate("config => window.startUppy(config)", config)


def add_file(page: Page, name: str, payload: bytes) -> None:
    picker = page.locator('input.uppy-Dashboard-input[name="files[]"]').first
    picker.set_input_files({"name": name, "mimeType": "application/x-test", "buffer": payload})


def events(page: Page, kind: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = page.evaluate(
        "kind => window.uppyEvents.filter(e => e.kind === kind)", kind
    )
    return found


def wait_for_end(page: Page) -> None:
    wait_until(
        page,
        lambda: events(page, "success") or events(page, "error"),
        "the upload's end",
        timeout=90.0,
    )


def throttle(page: Page, bytes_per_s: int) -> None:
    """Chromium's uplink held to this rate (DevTools network emulation), so a pause lands
    mid-upload."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    conditions = {"offline": False, "latency": 0, "downloadThroughput": -1}
    cdp.send("Network.emulateNetworkConditions", {**conditions, "uploadThroughput": bytes_per_s})


def make_folder(server: Server, name: str) -> str:
    with server.client() as api:
        res = api.post("/file-storage/folders", json={"name": name, "parent_folder_id": "root"})
    assert res.status_code == 201, res.text
    folder_id: str = res.json()["data"]["id"]
    return folder_id


def test_dashboard_uploads_parts_straight_into_the_store(
    page: Page, site: str, server: Server
) -> None:
    folder = make_folder(server, "from-uppy")
    payload = os.urandom(12 * MIB + 321)  # parts of 5, 5 and 2 MiB: Uppy's own choice
    store = os.environ["PARTWAY_TEST_S3_ENDPOINT"]
    sent: list[Request] = []
    page.on("request", lambda r: sent.append(r) if r.method != "OPTIONS" else None)
    open_uppy(page, site, companion_endpoint(server, "s3"), folder)
    before = received_bytes(server.base_url)
    add_file(page, "uppy-s3.bin", payload)
    page.click(".uppy-StatusBar-actionBtn--upload")
    wait_for_end(page)
    assert events(page, "error") == []

    puts = [r for r in sent if r.method == "PUT"]
    assert len(puts) == 3 and all(r.url.startswith(store + "/") for r in puts)
    assert [p["number"] for p in events(page, "part")] == [1, 2, 3]
    to_partway = [r for r in sent if r.url.startswith(server.base_url)]
    assert [r.method for r in to_partway] == ["POST", "GET", "GET", "GET", "POST"]
    # Only the create's and the complete's small JSON bodies reached partway.
    assert received_bytes(server.base_url) - before < 4096

    (success,) = events(page, "success")
    file_id = success["url"].rsplit("/", 1)[1]
    assert success["url"] == f"{server.base_url}/file-storage/files/{file_id}"
    with server.client() as api:
        assert download(api, file_id).content == payload
        entry = api.get(f"/file-storage/files/{file_id}").json()["data"]
    assert entry["path"] == "/from-uppy/uppy-s3.bin" and entry["size"] == len(payload)


def test_a_store_without_presigned_parts_fails_the_upload_clearly(
    page: Page, site: str, server: Server
) -> None:
    """Local disk signs no part URLs: the create is refused (400), which Uppy reports as the
    file's error, and nothing is left open."""
    refusals: list[int] = []
    page.on("response", lambda r: refusals.append(r.status) if "/s3/" in r.url else None)
    open_uppy(page, site, companion_endpoint(server, "disk"), "root")
    add_file(page, "local.bin", os.urandom(MIB))
    page.click(".uppy-StatusBar-actionBtn--upload")
    wait_for_end(page)
    assert events(page, "success") == []
    (error,) = events(page, "error")
    assert "Companion request failed" in error["message"]
    assert refusals == [400]
    with server.client() as api:
        res = api.get("/file-storage/upload-sessions", headers={"x-apideck-service-id": "disk"})
    assert res.status_code == 200 and res.json()["data"] == [], res.text


def test_paused_and_resumed_from_the_stores_list_of_parts(
    page: Page, site: str, server: Server
) -> None:
    """Resumed, the plugin asks partway which parts the store holds (ListParts) and sends only
    the others."""
    payload = os.urandom(3 * 5 * MIB + 99)
    sent: list[Request] = []
    page.on("request", lambda r: sent.append(r) if r.method != "OPTIONS" else None)
    open_uppy(page, site, companion_endpoint(server, "s3"), "root")
    throttle(page, 4 * MIB)
    add_file(page, "paused.bin", payload)
    page.click(".uppy-StatusBar-actionBtn--upload")
    wait_until(page, lambda: events(page, "part"), "the first part", timeout=90.0)
    toggle = page.locator('.uppy-StatusBar [data-cy="togglePauseResume"]')
    toggle.click()
    wait_until(
        page, lambda: toggle.get_attribute("title") == "Resume", "the Resume button", timeout=90.0
    )
    page.wait_for_timeout(500)
    done_before = {p["number"] for p in events(page, "part")}
    assert 1 in done_before and len(done_before) < 4
    toggle.click()
    wait_for_end(page)
    assert events(page, "error") == []

    lists = [r for r in sent if r.method == "GET" and re.search(r"/s3/multipart/[^/?]+\?", r.url)]
    assert len(lists) == 1  # asked the store once, on resume
    put_numbers = [
        parse_qs(urlsplit(r.url).query)["partNumber"][0] for r in sent if r.method == "PUT"
    ]
    assert put_numbers.count("1") == 1  # part 1 never sent again
    file_id = events(page, "success")[0]["url"].rsplit("/", 1)[1]
    with server.client() as api:
        assert download(api, file_id).content == payload


@pytest.mark.parametrize("service", ["disk", "s3"])
def test_whole_files_go_through_s3_params(
    page: Page, site: str, server: Server, service: str
) -> None:
    """`shouldUseMultipart: false`: the plugin asks `GET /s3/params` for each file and POSTs it
    as a form to the URL partway signed, which finishes the upload; an empty file too."""
    folder = make_folder(server, f"whole-{service}")
    files = {"whole.bin": os.urandom(MIB + 5), "empty.txt": b""}
    sent: list[Request] = []
    page.on("request", lambda r: sent.append(r) if r.method != "OPTIONS" else None)
    open_uppy(page, site, companion_endpoint(server, service), folder, multipart=False)
    picker = page.locator('input.uppy-Dashboard-input[name="files[]"]').first
    picked: list[FilePayload] = [
        {"name": n, "mimeType": "application/x-test", "buffer": p} for n, p in files.items()
    ]
    picker.set_input_files(picked)
    page.click(".uppy-StatusBar-actionBtn--upload")
    wait_until(
        page, lambda: len(events(page, "success")) + len(events(page, "error")) == 2, "two ends"
    )
    assert events(page, "error") == []
    posts = [r for r in sent if r.method == "POST"]
    assert len(posts) == 2
    assert all(r.url.startswith(server.base_url + "/signed/uploads?") for r in posts)
    with server.client() as api:
        headers = {"x-apideck-service-id": service}
        listed = api.get("/file-storage/files", params={"filter[folder_id]": folder}).json()
        found = {f["name"]: f["id"] for f in listed["data"]}
        assert set(found) == set(files)
        for name, payload in files.items():
            assert download(api, found[name], **headers).content == payload
