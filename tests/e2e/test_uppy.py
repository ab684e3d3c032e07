"""Uppy (`@uppy/core`, `@uppy/dashboard`, `@uppy/tus`, pinned in tests/uppy/package-lock.json)
in headless Chromium, uploading through the Dashboard's own buttons to a real `partway serve`'s
tus endpoint from another origin (CORS), with pause and resume. The page is tests/uppy/page.js,
bundled by the locked esbuild; the bytes are read back through the Apideck API."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, Request

from tests.conftest import Server, start_server, stop_server
from tests.e2e.helpers import MIB, download
from tests.e2e.npm_pages import uppy_site, wait_until

UPPY = Path(__file__).resolve().parent.parent / "uppy"
# Upload throughput Chromium is held to (DevTools network emulation), so that a pause lands
# mid-upload: the 6 MiB below take ~3 s at this rate.
THROTTLE_BYTES_PER_S = 2 * MIB


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The test page, served from another origin than partway's (so the uploads are
    cross-origin: CORS)."""
    with uppy_site(UPPY, "@uppy/tus", tmp_path_factory.mktemp("uppy-site")) as origin:
        yield origin


@pytest.fixture(scope="module")
def server(site: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    origins = json.dumps([site])
    srv = start_server(tmp_path_factory.mktemp("uppy"), {"PARTWAY_CORS_ORIGINS": origins})
    yield srv
    stop_server(srv)


def open_uppy(page: Page, site: str, server: Server, chunk_size: int) -> None:
    page.goto(site + "/uppy.html")
    config = {
        "endpoint": server.base_url + "/uploads",
        "headers": server.headers(),
        "chunkSize": chunk_size,
    }
    page.evaluate("config => window.startUppy(config)", config)


def throttle(page: Page, bytes_per_s: int) -> None:
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    conditions = {"offline": False, "latency": 0, "downloadThroughput": -1}
    cdp.send("Network.emulateNetworkConditions", {**conditions, "uploadThroughput": bytes_per_s})


def add_file(page: Page, name: str, payload: bytes, mime: str) -> None:
    picker = page.locator('input.uppy-Dashboard-input[name="files[]"]').first
    picker.set_input_files({"name": name, "mimeType": mime, "buffer": payload})


def events(page: Page, kind: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = page.evaluate(
        "kind => window.uppyEvents.filter(e => e.kind === kind)", kind
    )
    return found


def durable_end(client: httpx.Client, session_id: str) -> int:
    """The end of the session's first received range, as the Apideck API reports it."""
    res = client.get(f"/file-storage/upload-sessions/{session_id}")
    assert res.status_code == 200, res.text
    ranges = res.json()["data"]["uploaded_byte_range"]
    if not ranges:
        return 0
    first, _, last = ranges.split(",")[0].partition("-")
    assert first == "0", ranges
    return int(last) + 1


def stored(client: httpx.Client, name: str) -> tuple[dict[str, Any], bytes]:
    res = client.get("/file-storage/files", params={"filter[folder_id]": "root", "limit": 200})
    assert res.status_code == 200, res.text
    found = [f for f in res.json()["data"] if f["name"] == name]
    assert len(found) == 1, res.json()["data"]
    got = download(client, found[0]["id"])
    assert got.status_code == 200, got.text
    return found[0], got.content


def test_dashboard_upload_paused_and_resumed(page: Page, site: str, server: Server) -> None:
    payload = os.urandom(6 * MIB + 321)
    sent: list[Request] = []
    page.on("request", lambda r: sent.append(r) if "/uploads" in r.url else None)
    open_uppy(page, site, server, chunk_size=MIB)
    throttle(page, THROTTLE_BYTES_PER_S)
    add_file(page, "uppy.bin", payload, "application/x-partway-test")
    with page.expect_response(lambda r: r.request.method == "POST") as creation:
        page.click(".uppy-StatusBar-actionBtn--upload")
    assert creation.value.status == 201, creation.value.text()
    url = creation.value.header_value("location") or ""
    session_id = url.rsplit("/", 1)[1]
    with server.client() as client:
        wait_until(
            page, lambda: durable_end(client, session_id) >= MIB, "the first MiB on the server"
        )
        toggle = page.locator('.uppy-StatusBar [data-cy="togglePauseResume"]')
        assert toggle.get_attribute("title") == "Pause"
        toggle.click()
        wait_until(page, lambda: toggle.get_attribute("title") == "Resume", "the Resume button")
        # Paused: the chunk in flight was cut off; nothing more reaches the server.
        page.wait_for_timeout(500)
        paused_at = durable_end(client, session_id)
        sent_before_resume = len(sent)
        page.wait_for_timeout(1000)
        assert durable_end(client, session_id) == paused_at < len(payload)
        assert len(sent) == sent_before_resume

        toggle.click()
        wait_until(
            page, lambda: events(page, "success") or events(page, "error"), "the upload's end"
        )
        assert events(page, "error") == []
        assert events(page, "success")[0]["url"] == url

        after = sent[sent_before_resume:]
        assert next(r.method for r in after if r.method != "OPTIONS") == "HEAD"  # asks first
        assert {r.url for r in after} == {url}
        assert [r.method for r in sent].count("POST") == 1  # resumed, never restarted
        entry, body = stored(client, "uppy.bin")
        assert body == payload
        assert entry["size"] == len(payload)
        assert entry["mime_type"] == "application/x-partway-test"  # Uppy's filetype
