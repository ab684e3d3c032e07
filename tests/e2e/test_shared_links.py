"""Shared links (issue #18): a link's URL works with no credentials at all (plain HTTP client and
Chromium), with Range and HEAD; revoke, expiry, password and download limit take effect at once;
another tenant can neither see nor revoke it; the database alone holds no working token."""

from __future__ import annotations

import base64
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.conftest import Server

from .helpers import assert_error, metric, upload_whole

LINKS = "/file-storage/shared-links"
PAYLOAD = bytes(range(256)) * 40
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture
def client(server: Server) -> Iterator[httpx.Client]:
    with server.client("link-owner") as c:
        yield c


@pytest.fixture
def anonymous(server: Server) -> Iterator[httpx.Client]:
    """No Authorization, no x-apideck-* headers: only the token opens anything."""
    with httpx.Client(timeout=30) as c:
        yield c


def share(client: httpx.Client, target_id: str, **fields: object) -> tuple[str, str]:
    res = client.post(LINKS, json={"target_id": target_id, **fields})
    assert res.status_code == 201, res.text
    link_id: str = res.json()["data"]["id"]
    url: str = client.get(f"{LINKS}/{link_id}").json()["data"]["url"]
    return link_id, url


def test_a_file_link_streams_without_credentials(
    client: httpx.Client, anonymous: httpx.Client
) -> None:
    file_id = upload_whole(client, "shared.bin", PAYLOAD)
    link_id, url = share(client, file_id, scope="public")
    data = client.get(f"{LINKS}/{link_id}").json()["data"]
    assert data["target"] == {"id": file_id, "name": "shared.bin", "type": "file"}
    assert data["password_protected"] is False and data["scope"] == "public"

    whole = anonymous.get(url)
    assert whole.status_code == 200 and whole.content == PAYLOAD
    head = anonymous.head(url)
    assert head.status_code == 200 and head.headers["content-length"] == str(len(PAYLOAD))
    assert head.content == b""
    part = anonymous.get(url, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == PAYLOAD[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(PAYLOAD)}"
    attachment = anonymous.get(data["download_url"])
    assert attachment.headers["content-disposition"].startswith("attachment")


def test_revoking_stops_the_link_at_once(client: httpx.Client, anonymous: httpx.Client) -> None:
    file_id = upload_whole(client, "revoked.txt", b"secret")
    link_id, url = share(client, file_id)
    assert anonymous.get(url).content == b"secret"
    assert client.delete(f"{LINKS}/{link_id}").status_code == 200
    assert_error(anonymous.get(url), 404, "EntityNotFoundError")
    assert_error(client.get(f"{LINKS}/{link_id}"), 404)


def test_forged_and_altered_tokens_open_nothing(
    client: httpx.Client, anonymous: httpx.Client
) -> None:
    file_id = upload_whole(client, "forged.txt", b"x")
    _, url = share(client, file_id)
    base, _, token = url.rpartition("/")
    link_id, _, tag = token.partition(".")
    flipped = tag[:-1] + ("A" if tag[-1] != "A" else "B")
    for bad in (f"{link_id}.{flipped}", link_id, f"{link_id}.", "lnk_00.x", "../etc"):
        assert anonymous.get(f"{base}/{bad}").status_code == 404, bad
    # At least 128 random bits: the tag is a 256-bit HMAC over a 128-bit random salt.
    assert len(base64.urlsafe_b64decode(tag + "=")) == 32


def test_expired_links_are_refused(client: httpx.Client, anonymous: httpx.Client) -> None:
    file_id = upload_whole(client, "expiring.txt", b"soon gone")
    soon = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
    passed = {"service_id": "local", "extend_object": {"expires_at": soon}}
    link_id, url = share(client, file_id, pass_through=[passed])
    assert anonymous.get(url).status_code == 200
    time.sleep(2.5)
    assert_error(anonymous.get(url), 410)
    # Extended again, it works again; expired by PATCH, it stops.
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    res = client.patch(f"{LINKS}/{link_id}", json={"target_id": file_id, "expires_at": later})
    assert res.status_code == 200, res.text
    assert anonymous.get(url).status_code == 200
    past = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    client.patch(f"{LINKS}/{link_id}", json={"target_id": file_id, "expires_at": past})
    assert_error(anonymous.get(url), 410)


def test_password_and_download_limit(client: httpx.Client, anonymous: httpx.Client) -> None:
    file_id = upload_whole(client, "guarded.txt", b"guarded")
    extra = {"service_id": "local", "extend_object": {"max_downloads": 2}}
    link_id, url = share(client, file_id, password="open sesame", pass_through=[extra])
    assert client.get(f"{LINKS}/{link_id}").json()["data"]["password_protected"] is True
    refused = anonymous.get(url)
    assert_error(refused, 401)
    assert refused.headers["www-authenticate"].startswith("Basic")
    assert_error(anonymous.get(url, auth=("any", "wrong")), 401)
    assert anonymous.get(url, auth=("any", "open sesame")).content == b"guarded"
    headers = {"x-partway-link-password": "open sesame"}
    # HEAD is no download. A limited link takes no Range (a range from byte 1 went uncounted,
    # so the limit gave the file any number of times): the whole file, counted.
    head = anonymous.head(url, headers=headers)
    assert head.status_code == 200 and head.headers["accept-ranges"] == "none"
    ranged = anonymous.get(url, headers={**headers, "Range": "bytes=2-"})
    assert ranged.status_code == 200 and ranged.content == b"guarded"
    assert_error(anonymous.get(url, headers=headers), 410)
    assert client.get(f"{LINKS}/{link_id}").json()["data"]["downloads"] == 2


def test_a_folder_link_lists_its_files(client: httpx.Client, anonymous: httpx.Client) -> None:
    res = client.post("/file-storage/folders", json={"name": "album", "parent_folder_id": "root"})
    folder_id = res.json()["data"]["id"]
    sub = client.post("/file-storage/folders", json={"name": "sub", "parent_folder_id": folder_id})
    inside = upload_whole(client, "one.txt", b"one", folder_id)
    deeper = upload_whole(client, "two.txt", b"two", sub.json()["data"]["id"])
    outside = upload_whole(client, "outside.txt", b"no")
    _, url = share(client, folder_id)
    listing = anonymous.get(url, headers={"accept": "application/json"}).json()
    assert {f["name"] for f in listing["files"]} == {"one.txt", "two.txt"}
    for f in listing["files"]:
        assert anonymous.get(f["url"]).content == {"one.txt": b"one", "two.txt": b"two"}[f["name"]]
    assert {inside, deeper} == {f["id"] for f in listing["files"]}
    assert anonymous.get(f"{url}/files/{outside}").status_code == 404
    page = anonymous.get(url)
    assert page.headers["content-type"].startswith("text/html") and "one.txt" in page.text


def test_another_tenant_cannot_list_read_or_revoke(
    server: Server, client: httpx.Client, anonymous: httpx.Client
) -> None:
    file_id = upload_whole(client, "mine.txt", b"mine")
    link_id, url = share(client, file_id)
    with server.client("intruder") as other:
        assert link_id not in [x["id"] for x in other.get(LINKS).json()["data"]]
        assert_error(other.get(f"{LINKS}/{link_id}"), 404)
        assert_error(other.patch(f"{LINKS}/{link_id}", json={"target_id": file_id}), 404)
        assert_error(other.delete(f"{LINKS}/{link_id}"), 404)
        assert_error(other.post(LINKS, json={"target_id": file_id}), 404)
    assert anonymous.get(url).content == b"mine"


def test_shared_filter_and_metrics(
    server: Server, client: httpx.Client, anonymous: httpx.Client
) -> None:
    shared = upload_whole(client, "listed-shared.txt", b"s")
    upload_whole(client, "listed-private.txt", b"p")
    _, url = share(client, shared)
    listed = client.get("/file-storage/files", params={"filter[shared]": "true"}).json()["data"]
    names = {e["name"] for e in listed}
    assert "listed-shared.txt" in names and "listed-private.txt" not in names
    anonymous.get(url)
    assert metric(server.base_url, "partway_shared_link_downloads_total") >= 1


def test_the_database_holds_no_working_token(server: Server, client: httpx.Client) -> None:
    file_id = upload_whole(client, "leak.txt", b"leak")
    _, url = share(client, file_id)
    tag = url.rpartition(".")[2]
    stored = b"".join(p.read_bytes() for p in server.data_dir.glob("partway.db*"))
    assert tag.encode() not in stored


def test_the_request_log_holds_no_working_token(
    server: Server, client: httpx.Client, anonymous: httpx.Client
) -> None:
    """A token is a credential: whoever reads the server's log must not be able to use it."""
    file_id = upload_whole(client, "logged.txt", b"logged")
    _, url = share(client, file_id)
    assert anonymous.get(url).status_code == 200
    tag = url.rpartition(".")[2]
    log = server.log.read_text()
    assert tag not in log
    assert "/s/{token}" in log


def test_chromium_opens_a_shared_link(client: httpx.Client) -> None:
    from playwright.sync_api import sync_playwright

    file_id = upload_whole(client, "page.html", b"<!doctype html><title>shared page</title>ok")
    _, url = share(client, file_id)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            response = page.goto(url)
            assert response is not None and response.status == 200
            assert page.title() == "shared page"
        finally:
            browser.close()
