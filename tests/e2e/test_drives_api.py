"""Drives and drive groups (issue #18): several drives per consumer, full CRUD, drive_id
honoured by folders, uploads, listings and search; a non-empty drive is not deleted."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import Server

from .helpers import assert_error, upload_whole

DRIVES = "/file-storage/drives"
GROUPS = "/file-storage/drive-groups"


@pytest.fixture
def client(server: Server) -> Iterator[httpx.Client]:
    with server.client("drives-consumer") as c:
        yield c


def make_drive(client: httpx.Client, name: str) -> str:
    res = client.post(DRIVES, json={"name": name, "description": "d"})
    assert res.status_code == 201, res.text
    drive_id: str = res.json()["data"]["id"]
    return drive_id


def test_drive_crud_and_the_default_drive_stays(client: httpx.Client) -> None:
    drive_id = make_drive(client, "Projects")
    listed = client.get(DRIVES).json()["data"]
    assert [d["id"] for d in listed][:1] == ["default"]
    assert drive_id in [d["id"] for d in listed]
    got = client.get(f"{DRIVES}/{drive_id}").json()["data"]
    assert got["name"] == "Projects" and got["created_by"] == "drives-consumer"
    res = client.patch(f"{DRIVES}/{drive_id}", json={"name": "Renamed", "description": None})
    assert res.status_code == 200, res.text
    got = client.get(f"{DRIVES}/{drive_id}").json()["data"]
    assert (got["name"], got["description"]) == ("Renamed", None)
    assert client.delete(f"{DRIVES}/{drive_id}").status_code == 200
    assert_error(client.get(f"{DRIVES}/{drive_id}"), 404, "EntityNotFoundError")
    assert_error(client.delete(f"{DRIVES}/default"), 422, "InvalidStateError")
    assert client.get(f"{DRIVES}/default").status_code == 200


def test_drive_pages_follow_the_cursor(client: httpx.Client) -> None:
    made = {make_drive(client, f"paged-{n}") for n in range(5)}
    seen: list[str] = []
    res = client.get(DRIVES, params={"limit": 2}).json()
    while True:
        seen += [d["id"] for d in res["data"]]
        cursor = res["meta"]["cursors"]["next"]
        if cursor is None:
            break
        res = client.get(DRIVES, params={"limit": 2, "cursor": cursor}).json()
    assert made <= set(seen) and len(seen) == len(set(seen))


def test_entries_live_in_their_drive_and_block_its_deletion(client: httpx.Client) -> None:
    drive_id = make_drive(client, "Holder")
    res = client.post(
        "/file-storage/folders",
        json={"name": "Inside", "parent_folder_id": "root", "drive_id": drive_id},
    )
    assert res.status_code == 201, res.text
    folder_id = res.json()["data"]["id"]
    # The default drive's root does not show the other drive's folder.
    default_names = [e["name"] for e in client.get("/file-storage/files").json()["data"]]
    assert "Inside" not in default_names
    in_drive = client.get("/file-storage/files", params={"filter[drive_id]": drive_id})
    assert [e["id"] for e in in_drive.json()["data"]] == [folder_id]
    # A session names the drive; its folder must be in that drive.
    res = client.post(
        "/file-storage/upload-sessions",
        json={"name": "a.bin", "parent_folder_id": folder_id, "size": 3, "drive_id": drive_id},
    )
    assert res.status_code == 201, res.text
    res = client.post(
        "/file-storage/upload-sessions",
        json={"name": "b.bin", "parent_folder_id": folder_id, "size": 3},
    )
    assert_error(res, 404, "EntityNotFoundError")

    refused = assert_error(client.delete(f"{DRIVES}/{drive_id}"), 422, "InvalidStateError")
    assert "not empty" in refused["message"]
    assert refused["detail"] == {"entries": 1, "open_uploads": 1}


def test_unknown_drive_is_refused_everywhere(client: httpx.Client) -> None:
    assert_error(client.get("/file-storage/files", params={"filter[drive_id]": "drv_0"}), 404)
    res = client.post(
        "/file-storage/folders", json={"name": "x", "parent_folder_id": "root", "drive_id": "no"}
    )
    assert_error(res, 404)
    assert_error(
        client.post("/file-storage/files/search", json={"query": "x", "drive_id": "no"}), 404
    )


def test_another_consumer_sees_none_of_it(server: Server, client: httpx.Client) -> None:
    drive_id = make_drive(client, "Private")
    group_id = client.post(GROUPS, json={"name": "g"}).json()["data"]["id"]
    with server.client("someone-else") as other:
        assert drive_id not in [d["id"] for d in other.get(DRIVES).json()["data"]]
        assert_error(other.get(f"{DRIVES}/{drive_id}"), 404)
        assert_error(other.patch(f"{DRIVES}/{drive_id}", json={"name": "x"}), 404)
        assert_error(other.delete(f"{DRIVES}/{drive_id}"), 404)
        assert_error(other.get(f"{GROUPS}/{group_id}"), 404)
        assert_error(other.delete(f"{GROUPS}/{group_id}"), 404)
        upload = other.post(
            "/file-storage/upload-sessions",
            json={"name": "a", "parent_folder_id": "root", "size": 1, "drive_id": drive_id},
        )
        assert_error(upload, 404)


def test_drive_group_crud(client: httpx.Client) -> None:
    res = client.post(GROUPS, json={"name": "accounting", "display_name": "Accounting"})
    assert res.status_code == 201, res.text
    group_id = res.json()["data"]["id"]
    got = client.get(f"{GROUPS}/{group_id}").json()["data"]
    assert (got["name"], got["display_name"]) == ("accounting", "Accounting")
    assert group_id in [g["id"] for g in client.get(GROUPS).json()["data"]]
    res = client.patch(f"{GROUPS}/{group_id}", json={"display_name": None, "description": "x"})
    assert res.status_code == 200, res.text
    got = client.get(f"{GROUPS}/{group_id}").json()["data"]
    assert (got["name"], got["display_name"], got["description"]) == ("accounting", None, "x")
    assert client.delete(f"{GROUPS}/{group_id}").status_code == 200
    assert_error(client.get(f"{GROUPS}/{group_id}"), 404)
    assert_error(client.delete(f"{GROUPS}/{group_id}"), 404)


def test_filters_and_pass_through_partway_cannot_apply_are_refused(client: httpx.Client) -> None:
    res = client.get(DRIVES, params={"filter[group_id]": "g"})
    assert "filter[group_id]" in assert_error(res, 400, "UnsupportedFiltersError")["message"]
    res = client.get(GROUPS, params={"filter[parent_group_id]": "g"})
    assert_error(res, 400, "UnsupportedFiltersError")
    body = {"name": "x", "pass_through": [{"service_id": "box", "extend_object": {"a": 1}}]}
    assert "pass_through" in assert_error(client.post(DRIVES, json=body), 400)["message"]
    res = client.get("/file-storage/files", params={"pass_through[search]": "x"})
    assert "pass_through[search]" in assert_error(res, 400)["message"]


def test_files_carry_their_owner(client: httpx.Client) -> None:
    file_id = upload_whole(client, "owned.txt", b"abc")
    data = client.get(f"/file-storage/files/{file_id}").json()["data"]
    assert data["owner"] == {"id": "drives-consumer"}
    assert data["created_by"] == data["updated_by"] == "drives-consumer"
    assert data["export_formats"] == ["text/plain"]
