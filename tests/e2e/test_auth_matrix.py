"""Every endpoint × {no key, wrong key, another app's key, another consumer}: 401/401/401/404."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from tests.conftest import Server, create_key

from .helpers import SESSIONS, assert_error, create_session, upload_whole

Call = Callable[[httpx.Client, dict[str, str]], httpx.Response]


@pytest.fixture(scope="module")
def ids(server: Server) -> dict[str, str]:
    with server.client("owner") as c:
        folder = c.post("/file-storage/folders", json={"name": "f", "parent_folder_id": "root"})
        return {
            "session": create_session(c, "s.bin", 3),
            "file": upload_whole(c, "x.bin", b"secret"),
            "folder": folder.json()["data"]["id"],
        }


def endpoints(ids: dict[str, str]) -> dict[str, Call]:
    s, f, d = ids["session"], ids["file"], ids["folder"]
    meta = json.dumps({"name": "n.bin", "parent_folder_id": "root"})
    return {
        "create session": lambda c, h: c.post(
            SESSIONS, headers=h, json={"name": "a", "parent_folder_id": "root", "size": 1}
        ),
        "list sessions": lambda c, h: c.get(SESSIONS, headers=h),
        "get session": lambda c, h: c.get(f"{SESSIONS}/{s}", headers=h),
        "upload part": lambda c, h: c.put(
            f"{SESSIONS}/{s}?part_number=0", headers=h, content=b"abc"
        ),
        "finish": lambda c, h: c.post(f"{SESSIONS}/{s}/finish", headers=h),
        "abort": lambda c, h: c.delete(f"{SESSIONS}/{s}", headers=h),
        "list files": lambda c, h: c.get("/file-storage/files", headers=h),
        "small upload": lambda c, h: c.post(
            "/file-storage/files", headers={**h, "x-apideck-metadata": meta}, content=b"x"
        ),
        "get file": lambda c, h: c.get(f"/file-storage/files/{f}", headers=h),
        "update file": lambda c, h: c.patch(
            f"/file-storage/files/{f}", headers=h, json={"name": "y"}
        ),
        "download": lambda c, h: c.get(f"/file-storage/files/{f}/download", headers=h),
        "delete file": lambda c, h: c.delete(f"/file-storage/files/{f}", headers=h),
        "create folder": lambda c, h: c.post(
            "/file-storage/folders", headers=h, json={"name": "g", "parent_folder_id": "root"}
        ),
        "get folder": lambda c, h: c.get(f"/file-storage/folders/{d}", headers=h),
        "update folder": lambda c, h: c.patch(
            f"/file-storage/folders/{d}", headers=h, json={"name": "h"}
        ),
        "delete folder": lambda c, h: c.delete(f"/file-storage/folders/{d}", headers=h),
        "list drives": lambda c, h: c.get("/file-storage/drives", headers=h),
        "get drive": lambda c, h: c.get("/file-storage/drives/default", headers=h),
    }


# Calls on the owner's ids; for another consumer they must look like unknown ids.
OWNED = {
    "get session",
    "upload part",
    "finish",
    "abort",
    "get file",
    "update file",
    "download",
    "delete file",
    "get folder",
    "update folder",
    "delete folder",
}


@pytest.mark.parametrize("case", ["no key", "wrong key", "other app key", "other consumer"])
def test_auth_matrix(server: Server, ids: dict[str, str], case: str) -> None:
    headers = server.headers("owner")
    if case == "no key":
        del headers["Authorization"]
    elif case == "wrong key":
        headers["Authorization"] = "Bearer pw_" + "0" * 43
    elif case == "other app key":
        headers["Authorization"] = "Bearer " + create_key(server.data_dir, "app-x")
    else:
        headers["x-apideck-consumer-id"] = "intruder"
    with httpx.Client(base_url=server.base_url, timeout=30) as c:
        for name, call in endpoints(ids).items():
            res = call(c, headers)
            if case != "other consumer":
                assert_error(res, 401, "UnauthorizedError")
            elif name in OWNED:
                assert_error(res, 404, "EntityNotFoundError")
            else:
                assert res.status_code < 300, (name, res.text)
                assert "secret" not in res.text and ids["file"] not in res.text, name
    # The owner's things are untouched.
    with server.client("owner") as c:
        assert c.get(f"/file-storage/files/{ids['file']}/download").content == b"secret"
        assert c.get(f"{SESSIONS}/{ids['session']}").status_code == 200
        assert c.get(f"/file-storage/folders/{ids['folder']}").json()["data"]["name"] == "f"
