"""The page's drive switcher, search, folder copy and shared links (issue #18), in headless
Chromium against a real server: what the page does is checked again over the API, and a shared
link is fetched with no credentials, opened in the browser, and refused once revoked."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Dialog, Locator, Page, expect

from tests.conftest import Server, start_server, stop_server

from .test_browser import sign_in

CONSUMER = "web-catalog"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("browser-catalog"))
    yield srv
    stop_server(srv)


@pytest.fixture
def page(browser: Browser, server: Server) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.base_url)
    pg = context.new_page()
    yield pg
    context.close()


def row(page: Page, name: str) -> Locator:
    return page.locator("#files tbody tr", has_text=name).first


def test_drive_switch_copy_search_and_share_in_the_page(page: Page, server: Server) -> None:
    sign_in(page, server, CONSUMER)
    expect(page.locator("#drive-select")).to_have_value("default")

    # A new drive, made and switched to from the page.
    page.fill("#drive-name", "Team drive")
    page.click("#drive-form button[type=submit]")
    expect(page.locator("#drive-select option:checked")).to_have_text("Team drive")
    drive_id = page.locator("#drive-select").input_value()
    assert drive_id != "default"
    page.fill("#folder-name", "Docs")
    page.click("#folder-form button[type=submit]")
    expect(row(page, "Docs")).to_be_visible()

    api = server.client(CONSUMER)
    listed = api.get("/file-storage/files", params={"filter[drive_id]": drive_id}).json()["data"]
    docs = next(e for e in listed if e["name"] == "Docs")
    meta = json.dumps({"name": "report.txt", "parent_folder_id": docs["id"], "drive_id": drive_id})
    res = api.post(
        "/file-storage/files", content=b"quarterly", headers={"x-apideck-metadata": meta}
    )
    assert res.status_code == 201, res.text

    # Copy the folder next to itself, named through the page's prompt.
    def name_the_copy(dialog: Dialog) -> None:
        dialog.accept("Docs copy")

    page.once("dialog", name_the_copy)
    row(page, "Docs").locator("button.copy-folder").click()
    expect(row(page, "Docs copy")).to_be_visible()
    listed = api.get("/file-storage/files", params={"filter[drive_id]": drive_id}).json()["data"]
    copy_id = next(e["id"] for e in listed if e["name"] == "Docs copy")
    inside = api.get(
        "/file-storage/files", params={"filter[folder_id]": copy_id, "filter[drive_id]": drive_id}
    ).json()["data"]
    assert [e["name"] for e in inside] == ["report.txt"]
    assert api.get(f"/file-storage/files/{inside[0]['id']}/download").content == b"quarterly"

    # Search within the drive finds the original and the copy.
    page.fill("#search-query", "report")
    page.click("#search-form button[type=submit]")
    results = page.locator("#search-results li")
    expect(results).to_have_count(2)
    expect(results.filter(has_text="in Docs copy")).to_have_count(1)

    # Share the copied file: the link works without credentials, in a plain client and in the
    # browser, is copied to the clipboard, and stops at once when revoked from the page.
    row(page, "Docs copy").locator("button").first.click()
    expect(page.locator("#breadcrumbs")).to_contain_text("Docs copy")
    row(page, "report.txt").locator("button.share").click()
    shared = page.locator("#shares-list li").first
    expect(shared).to_contain_text("report.txt")
    url = shared.locator("a.link-url").get_attribute("href")
    assert url is not None
    assert httpx.get(url).content == b"quarterly"
    opened = page.context.new_page()
    response = opened.goto(url)
    assert response is not None and response.status == 200 and response.body() == b"quarterly"
    opened.close()
    shared.locator("button.copy-link").click()
    expect(shared.locator("button.copy-link")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == url
    shared.locator("button.revoke").click()
    expect(shared).to_have_class("revoked")
    assert httpx.get(url).status_code == 404

    # Back to the default drive: the other drive's folders are not there.
    page.select_option("#drive-select", "default")
    expect(page.locator("#breadcrumbs")).to_have_text("root")
    expect(row(page, "Docs")).to_have_count(0)
    api.close()
