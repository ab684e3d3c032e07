"""Files, folders and drives around the sessions."""

from __future__ import annotations

import json
import os

import httpx
import pytest

from tests.conftest import Server

from .helpers import assert_error, create_session, download, sha1_header, upload_whole

FILES = "/file-storage/files"
FOLDERS = "/file-storage/folders"


@pytest.fixture
def client(server: Server) -> httpx.Client:
    return server.client(consumer="files-consumer")


def make_folder(client: httpx.Client, name: str, parent: str = "root") -> str:
    res = client.post(FOLDERS, json={"name": name, "parent_folder_id": parent})
    assert res.status_code == 201, res.text
    folder_id: str = res.json()["data"]["id"]
    return folder_id


def test_folders_and_file_paths(client: httpx.Client) -> None:
    docs = make_folder(client, "docs")
    sub = make_folder(client, "2026", docs)
    file_id = upload_whole(client, "report.pdf", b"%PDF-1.7", sub)
    data = client.get(f"{FILES}/{file_id}").json()["data"]
    assert data["path"] == "/docs/2026/report.pdf"
    assert [f["id"] for f in data["parent_folders"]] == ["root", docs, sub]
    assert data["mime_type"] == "application/pdf" and data["size"] == 8 and data["type"] == "file"

    folder = client.get(f"{FOLDERS}/{sub}").json()["data"]
    assert folder["name"] == "2026" and folder["path"] == "/docs/2026"
    assert client.get(f"{FOLDERS}/root").json()["data"]["parent_folders"] == []

    assert_error(client.delete(f"{FOLDERS}/{docs}"), 422, "InvalidStateError")
    assert_error(client.patch(f"{FOLDERS}/{docs}", json={"parent_folder_id": sub}), 400)
    res = client.patch(f"{FOLDERS}/{sub}", json={"name": "2027"})
    assert res.status_code == 200
    assert client.get(f"{FILES}/{file_id}").json()["data"]["path"] == "/docs/2027/report.pdf"

    assert client.delete(f"{FILES}/{file_id}").status_code == 200
    assert_error(client.get(f"{FILES}/{file_id}"), 404)
    assert client.delete(f"{FOLDERS}/{sub}").status_code == 200
    assert client.delete(f"{FOLDERS}/{docs}").status_code == 200
    assert_error(client.get(f"{FOLDERS}/{docs}"), 404)
    assert_error(client.delete(f"{FOLDERS}/root"), 422)


def test_list_with_cursor_pagination(client: httpx.Client) -> None:
    folder = make_folder(client, "many")
    names = [f"f{i:02d}.txt" for i in range(7)]
    for name in reversed(names):
        upload_whole(client, name, name.encode(), folder)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"filter[folder_id]": folder, "limit": "3"}
        if cursor:
            params["cursor"] = cursor
        body = client.get(FILES, params=params).json()
        seen += [item["name"] for item in body["data"]]
        assert body["meta"]["items_on_page"] == len(body["data"])
        pages += 1
        cursor = body["meta"]["cursors"]["next"]
        if cursor is None:
            break
    assert seen == names and pages == 3
    desc = client.get(
        FILES, params={"filter[folder_id]": folder, "sort[by]": "name", "sort[direction]": "desc"}
    ).json()["data"]
    assert [d["name"] for d in desc] == list(reversed(names))
    assert_error(client.get(FILES, params={"cursor": "garbage!"}), 400)
    assert_error(client.get(FILES, params={"limit": "0"}), 400)
    assert_error(client.get(FILES, params={"sort[by]": "size"}), 400)
    assert_error(client.get(FILES, params={"filter[folder_id]": "fld_none"}), 404)


def test_download_ranges(client: httpx.Client) -> None:
    payload = os.urandom(100_000)
    file_id = upload_whole(client, "ranged.bin", payload)
    full = download(client, file_id)
    assert full.status_code == 200 and full.content == payload
    assert full.headers["accept-ranges"] == "bytes"
    part = download(client, file_id, range="bytes=10-19")
    assert part.status_code == 206 and part.content == payload[10:20]
    assert part.headers["content-range"] == f"bytes 10-19/{len(payload)}"
    tail = download(client, file_id, range="bytes=-5")
    assert tail.status_code == 206 and tail.content == payload[-5:]
    rest = download(client, file_id, range="bytes=99990-")
    assert rest.content == payload[99990:]
    assert_error(download(client, file_id, range="bytes=200000-"), 416)
    assert download(client, file_id, range="bytes=5-1").status_code == 200


def test_single_request_upload(client: httpx.Client) -> None:
    payload = os.urandom(5000)
    meta = json.dumps({"name": "direct.bin", "parent_folder_id": "root", "description": "hi"})
    res = client.post(
        FILES,
        content=payload,
        headers={"x-apideck-metadata": meta, "digest": sha1_header(payload)},
    )
    assert res.status_code == 201, res.text
    file_id = res.json()["data"]["id"]
    assert download(client, file_id).content == payload
    assert client.get(f"{FILES}/{file_id}").json()["data"]["description"] == "hi"
    again = client.post(FILES, content=payload, headers={"x-apideck-metadata": meta})
    assert_error(again, 409)
    bad = client.post(FILES, content=b"x", headers={"x-apideck-metadata": "{oops"})
    assert_error(bad, 400)
    wrong = client.post(
        FILES,
        content=b"abc",
        headers={
            "x-apideck-metadata": json.dumps({"name": "w.bin", "parent_folder_id": "root"}),
            "digest": sha1_header(b"xyz"),
        },
    )
    assert_error(wrong, 400)
    # The failed upload released its name.
    assert create_session(client, "w.bin", 1)


def test_rename_into_taken_name_is_409(client: httpx.Client) -> None:
    a = upload_whole(client, "a.txt", b"a")
    upload_whole(client, "b.txt", b"b")
    assert_error(client.patch(f"{FILES}/{a}", json={"name": "b.txt"}), 409)
    assert client.patch(f"{FILES}/{a}", json={"name": "c.txt"}).status_code == 200
    assert client.get(f"{FILES}/{a}").json()["data"]["name"] == "c.txt"


def test_drives(client: httpx.Client) -> None:
    drives = client.get("/file-storage/drives").json()["data"]
    assert [d["id"] for d in drives] == ["default"]
    assert client.get("/file-storage/drives/default").json()["data"]["name"]
    assert_error(client.get("/file-storage/drives/other"), 404)
