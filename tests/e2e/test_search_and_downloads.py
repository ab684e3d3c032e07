"""Search (POST /file-storage/files/search), signed download URLs (x-apideck-follow-redirects:
false), export in a listed format, and the routes every SDK method needs (issue #18)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import Server

from .helpers import assert_error, download, upload_whole

SEARCH = "/file-storage/files/search"


@pytest.fixture
def client(server: Server) -> Iterator[httpx.Client]:
    with server.client("searcher") as c:
        yield c


def folder(client: httpx.Client, name: str, parent: str = "root", **extra: str) -> str:
    res = client.post(
        "/file-storage/folders", json={"name": name, "parent_folder_id": parent, **extra}
    )
    assert res.status_code == 201, res.text
    folder_id: str = res.json()["data"]["id"]
    return folder_id


def names(res: httpx.Response) -> list[str]:
    assert res.status_code == 200, res.text
    return [e["name"] for e in res.json()["data"]]


def test_search_by_words_within_a_subtree_and_a_drive(client: httpx.Client) -> None:
    top = folder(client, "Quarterly")
    below = folder(client, "Q3", top)
    upload_whole(client, "Budget Report 2024.xlsx", b"1", below)
    upload_whole(client, "budget draft.txt", b"2", top)
    upload_whole(client, "report budget elsewhere.txt", b"3")
    upload_whole(client, "100%_done.txt", b"4")

    assert names(client.post(SEARCH, json={"query": "report budget"})) == [
        "Budget Report 2024.xlsx",
        "report budget elsewhere.txt",
    ]
    subtree = client.post(SEARCH, json={"query": "budget"}, params={"filter[folder_id]": top})
    assert names(subtree) == ["Budget Report 2024.xlsx", "budget draft.txt"]
    # LIKE's wildcards are plain characters in a query.
    assert names(client.post(SEARCH, json={"query": "%_"})) == ["100%_done.txt"]
    assert names(client.post(SEARCH, json={"query": "zz%"})) == []
    # Folders are found too.
    assert names(client.post(SEARCH, json={"query": "quarter"})) == ["Quarterly"]

    drive = client.post("/file-storage/drives", json={"name": "other"}).json()["data"]["id"]
    upload = {"name": "budget in other drive.txt", "parent_folder_id": "root", "drive_id": drive}
    res = client.post(
        "/file-storage/files",
        content=b"x",
        headers={"x-apideck-metadata": httpx.Request("GET", "/", json=upload).content.decode()},
    )
    assert res.status_code == 201, res.text
    in_drive = client.post(SEARCH, json={"query": "budget", "drive_id": drive})
    assert names(in_drive) == ["budget in other drive.txt"]
    by_filter = client.post(SEARCH, json={"query": "budget"}, params={"filter[drive_id]": drive})
    assert names(by_filter) == ["budget in other drive.txt"]
    assert "budget in other drive.txt" in names(client.post(SEARCH, json={"query": "budget"}))


def test_search_pages_with_cursors_and_stays_in_its_tenant(
    server: Server, client: httpx.Client
) -> None:
    parent = folder(client, "paging")
    made = {upload_whole(client, f"page item {n:02d}.bin", b"p", parent) for n in range(7)}
    seen: list[str] = []
    params: dict[str, str] = {"limit": "3"}
    while True:
        res = client.post(SEARCH, json={"query": "page item"}, params=params)
        body = res.json()
        seen += [e["id"] for e in body["data"]]
        if not body["meta"]["cursors"]["next"]:
            break
        params["cursor"] = body["meta"]["cursors"]["next"]
    assert set(seen) == made and len(seen) == 7
    assert_error(client.post(SEARCH, json={"query": "x"}, params={"cursor": "bogus"}), 400)
    with server.client("other-searcher") as other:
        assert names(other.post(SEARCH, json={"query": "page item"})) == []
        assert_error(
            other.post(SEARCH, json={"query": "x"}, params={"filter[folder_id]": parent}), 404
        )


def test_search_refuses_what_it_cannot_apply(client: httpx.Client) -> None:
    assert_error(client.post(SEARCH, json={}), 400)
    assert_error(client.post(SEARCH, json={"query": "x"}, params={"filter[owner]": "me"}), 400)
    res = client.post(SEARCH, json={"query": "x", "pass_through": [{"service_id": "box"}]})
    assert "pass_through" in assert_error(res, 400)["message"]


def test_signed_url_works_without_credentials_until_it_expires(client: httpx.Client) -> None:
    file_id = upload_whole(client, "signed.bin", b"signed bytes")
    res = download(client, file_id, **{"x-apideck-follow-redirects": "false"})
    assert res.status_code == 200 and res.headers["content-type"] == "application/json"
    answer = res.json()
    assert set(answer) == {"url", "expires_at"}
    url = answer["url"]
    got = httpx.get(url)
    assert got.status_code == 200 and got.content == b"signed bytes"
    assert httpx.get(url, headers={"Range": "bytes=7-"}).content == b"bytes"
    # Anything altered is refused: another file id, expiry or signature.
    assert httpx.get(url.replace("expires=", "expires=1")).status_code == 404
    assert httpx.get(url[:-2] + ("AA" if not url.endswith("AA") else "BB")).status_code == 404
    expired = url.split("?")[0] + "?expires=1&signature=x"
    assert httpx.get(expired).status_code == 404
    # Following redirects (the default) streams the bytes as before.
    assert download(client, file_id).content == b"signed bytes"


def test_signed_url_expiry_is_enforced(server: Server, client: httpx.Client) -> None:
    from partway.domain.signing import Signer
    from partway.secret_key import load_or_create

    file_id = upload_whole(client, "old.bin", b"old")
    signer = Signer(load_or_create(server.data_dir))
    past = str(int(time.time()) - 1)
    tag = signer.sign("download", file_id, server.app_id, "searcher", past)
    res = httpx.get(f"{server.base_url}/signed/files/{file_id}?expires={past}&signature={tag}")
    assert_error(res, 410)
    # A valid signature for another tenant's id names nothing of this one.
    tag = signer.sign("download", file_id, server.app_id, "someone", str(int(time.time()) + 60))
    res = httpx.get(
        f"{server.base_url}/signed/files/{file_id}?expires={int(time.time()) + 60}&signature={tag}"
    )
    assert res.status_code == 404


def test_export_in_listed_formats_only(client: httpx.Client) -> None:
    file_id = upload_whole(client, "export me.md", b"# title")
    data = client.get(f"/file-storage/files/{file_id}").json()["data"]
    assert data["export_formats"] == ["text/markdown"]
    res = client.get(f"/file-storage/files/{file_id}/export", params={"format": "text/markdown"})
    assert res.status_code == 200 and res.content == b"# title"
    assert client.get(f"/file-storage/files/{file_id}/export", params={"format": "md"}).content
    refused = client.get(f"/file-storage/files/{file_id}/export", params={"format": "pdf"})
    assert "text/markdown" in assert_error(refused, 400)["message"]
    assert_error(client.get(f"/file-storage/files/{file_id}/export"), 400)
