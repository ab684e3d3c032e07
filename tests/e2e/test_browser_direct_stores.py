"""The uploader page in direct mode on an object store, in headless Chromium: the parts go from
the page straight to Ceph RGW (presigned UploadPart) or Azurite (SAS Put Block), never through
partway. The store must let the page's origin PUT: the operator's step is
`partway storage cors --origin …`, run here with the server's own settings, as documented in
docs/storage.md. A page of an origin the rule does not name cannot send a part; one it names
uploads the right bytes, and after a reload resumes with only the parts the store lacks."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.sync_api import Page, Request, Route, expect

from tests.backends import (
    BUCKET,
    azure_connection_string,
    external,
    new_azure_url,
    new_s3_url,
    s3_client,
)
from tests.conftest import PARTWAY, Server, assert_clean_log, start_server, stop_server

from .helpers import MIB, received_bytes
from .npm_pages import wait_until

STORES = ("s3", "azure")
PART = 5 * MIB  # S3's smallest part


@dataclass
class Stored:
    """A server whose only service keeps its bytes in `store`, reachable at `origin`."""

    server: Server
    store: str
    origin: str
    env: dict[str, str]


def _store(name: str) -> tuple[str, str, dict[str, str]]:
    """(storage URL, the store's origin, the environment holding its credentials)."""
    if name == "s3":
        _, endpoint = external()
        return new_s3_url(), endpoint, {}
    url, env = new_azure_url()
    blob = dict(p.split("=", 1) for p in azure_connection_string().split(";"))["BlobEndpoint"]
    parts = urlsplit(blob)
    return url, f"{parts.scheme}://{parts.netloc}", env


def _drop_cors(name: str, origin: str) -> None:
    """The tests' stores are shared with other modules: leave no rule behind."""
    if name == "s3":
        s3_client(origin).delete_bucket_cors(Bucket=BUCKET)
        return
    from azure.storage.blob import BlobServiceClient

    with BlobServiceClient.from_connection_string(azure_connection_string()) as service:
        service.set_service_properties(cors=[])


@pytest.fixture(scope="module", params=STORES)
def stored(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stored]:
    name: str = request.param
    url, origin, store_env = _store(name)
    env = {
        **store_env,
        "PARTWAY_STORAGE": json.dumps({name: url}),
        "PARTWAY_DEFAULT_SERVICE": name,
        "PARTWAY_DIRECT_SERVICES": json.dumps([name]),
        "PARTWAY_DEFAULT_PART_SIZE": str(PART),
    }
    tmp = tmp_path_factory.mktemp(f"browser-direct-{name}")
    srv = start_server(tmp, env)
    yield Stored(srv, name, origin, {**os.environ, "PARTWAY_DATA_DIR": str(srv.data_dir), **env})
    stop_server(srv)
    _drop_cors(name, origin)
    assert_clean_log(srv)


def allow_origin(stored: Stored, *origins: str) -> None:
    """The operator's step: the CORS rule on the configured store, by partway's command."""
    args = [arg for origin in origins for arg in ("--origin", origin)]
    done = subprocess.run(
        [*PARTWAY, "storage", "cors", *args], env=stored.env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "ETag exposed" in done.stderr


def sign_in(page: Page, server: Server, consumer: str) -> None:
    page.goto(server.base_url + "/")
    page.fill("#api-key", server.key)
    page.fill("#app-id", server.app_id)
    page.fill("#consumer-id", consumer)
    page.click("#signin-form button[type=submit]")


def part_of(url: str) -> str:
    """Which part a store URL carries: S3's part number, Azure's block id."""
    query = parse_qs(urlsplit(url).query)
    return (query.get("partNumber") or query["blockid"])[0]


class StorePuts:
    """The PUTs the page sends, and those the store took (status 2xx), in order."""

    def __init__(self, page: Page) -> None:
        self.sent: list[str] = []
        self.stored: list[str] = []
        page.on("request", self._sent)
        page.on("requestfinished", self._finished)

    def _sent(self, request: Request) -> None:
        if request.method == "PUT":
            self.sent.append(request.url)

    def _finished(self, request: Request) -> None:
        response = request.response()
        if request.method == "PUT" and response is not None and response.ok:
            self.stored.append(request.url)


def download(server: Server, consumer: str, file_id: str) -> bytes:
    res = httpx.get(
        f"{server.base_url}/file-storage/files/{file_id}/download",
        headers=server.headers(consumer),
        timeout=60,
    )
    assert res.status_code == 200, res.text
    return res.content


def delete_file(server: Server, consumer: str, file_id: str) -> None:
    """RGW keeps its objects in a memory-backed OSD: give the bytes back."""
    res = httpx.delete(
        f"{server.base_url}/file-storage/files/{file_id}", headers=server.headers(consumer)
    )
    assert res.status_code == 200, res.text


def file_id_of(page: Page, name: str) -> str:
    row = page.locator(f'#uploads li[data-name="{name}"]')
    return re.search(r"file (file_[0-9a-f]+)", row.inner_text()).group(1)  # type: ignore[union-attr]


def test_parts_go_to_the_store_only_from_an_allowed_origin(
    page: Page, stored: Stored, tmp_path: Path
) -> None:
    server = stored.server
    payload = os.urandom(2 * PART + 17)
    source = tmp_path / "direct.bin"
    source.write_bytes(payload)

    # No rule yet for this page's origin: the browser refuses to send a part to the store.
    allow_origin(stored, "https://elsewhere.example")
    sign_in(page, server, "store-refused")
    blocked: list[str] = []
    cors_errors: list[str] = []
    page.on("requestfailed", lambda r: blocked.append(r.url) if r.method == "PUT" else None)
    page.on("console", lambda m: cors_errors.append(m.text) if "CORS policy" in m.text else None)
    page.set_input_files("#file-input", str(source))
    row = page.locator('#uploads li[data-name="direct.bin"]')
    expect(row).to_have_attribute("data-mode", "direct")
    page.wait_for_event("requestfailed", lambda r: r.method == "PUT", timeout=30_000)
    assert blocked and all(u.startswith(stored.origin + "/") for u in blocked)
    assert cors_errors, "the part failed for another reason than the store's CORS rule"
    row.locator("button.cancel").click()  # and the store drops the unfinished object
    expect(row).to_have_attribute("data-status", "cancelled")
    page.close()

    allow_origin(stored, server.base_url)
    fresh = page.context.new_page()
    puts = StorePuts(fresh)
    sign_in(fresh, server, "store-allowed")
    before = received_bytes(server.base_url)
    fresh.set_input_files("#file-input", str(source))
    row = fresh.locator('#uploads li[data-name="direct.bin"]')
    expect(row).to_have_attribute("data-status", "done", timeout=60_000)
    expect(row).to_have_attribute("data-mode", "direct")
    # partway itself took only the page's small JSON requests (create, part URLs, finish).
    assert received_bytes(server.base_url) - before < 10_000
    # Every part went to the store's origin, none to partway's; each once. (The page has sent
    # all it will once it shows "done"; Playwright may deliver the last events a little later.)
    wait_until(fresh, lambda: len(puts.stored) >= 3, "the store's answers to the 3 parts")
    assert len(puts.sent) == 3 and all(u.startswith(stored.origin + "/") for u in puts.sent)
    assert sorted(part_of(u) for u in puts.stored) == sorted({part_of(u) for u in puts.sent})
    file_id = file_id_of(fresh, "direct.bin")
    assert download(server, "store-allowed", file_id) == payload
    delete_file(server, "store-allowed", file_id)


def test_a_reload_resumes_with_the_parts_the_store_lacks(
    page: Page, stored: Stored, tmp_path: Path
) -> None:
    server = stored.server
    allow_origin(stored, server.base_url)
    payload = os.urandom(4 * PART - 3)
    source = tmp_path / "resumed.bin"
    source.write_bytes(payload)
    sign_in(page, server, "store-resumed")
    puts = StorePuts(page)
    let_through = [2]  # the first two parts reach the store; the rest fail on the way

    def two_then_fail(route: Route) -> None:
        if route.request.method != "PUT":
            route.continue_()
        elif let_through[0] > 0:
            let_through[0] -= 1
            route.continue_()
        else:
            route.abort("connectionfailed")

    store_urls = stored.origin + "/**"
    page.route(store_urls, two_then_fail)
    page.set_input_files("#file-input", str(source))
    wait_until(page, lambda: len(puts.stored) == 2, "two parts in the store", timeout=60)
    before = list(puts.stored)

    page.reload()
    page.unroute(store_urls)
    # Every PUT of the reloaded page passes here before it leaves, so once the upload is done
    # this list is complete (events such as requestfinished may come later).
    after: list[str] = []

    def count(route: Route) -> None:
        if route.request.method == "PUT":
            after.append(route.request.url)
        route.continue_()

    page.route(store_urls, count)
    expect(page.locator("#resumable-list")).to_contain_text("resumed.bin")
    page.set_input_files("#file-input", str(source))
    row = page.locator('#uploads li[data-name="resumed.bin"]')
    expect(row).to_have_attribute("data-status", "done", timeout=60_000)
    # The reloaded page sent only the two parts the store lacked, each once.
    assert len(after) == 2, after
    assert len({part_of(u) for u in before + after}) == 4
    assert all(u.startswith(stored.origin + "/") for u in puts.sent)
    file_id = file_id_of(page, "resumed.bin")
    assert download(server, "store-resumed", file_id) == payload
    delete_file(server, "store-resumed", file_id)
