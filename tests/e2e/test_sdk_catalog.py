"""The official apideck-unify SDK, unmodified, on issue #18's methods: drives, drive groups,
shared links, files search and export, folders copy, signed downloads."""

# The SDK types every response member as optional; these tests chain through them, and a
# None there fails the test at run time anyway.
# mypy: disable-error-code="union-attr,arg-type"

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from apideck_unify import Apideck, models

from tests.conftest import Server

from .helpers import python_sdk, upload_whole


@pytest.fixture
def sdk(server: Server) -> Iterator[Apideck]:
    with python_sdk(server, "sdk-catalog") as client:
        yield client


def test_drives_and_groups_through_the_sdk(sdk: Apideck) -> None:
    drives = sdk.file_storage.drives
    created = drives.create(name="SDK drive", description="made by the SDK")
    assert created.create_drive_response is not None
    drive_id = created.create_drive_response.data.id
    got = drives.get(id=drive_id).get_drive_response
    assert got is not None and got.data.name == "SDK drive"
    listed = drives.list().get_drives_response
    assert listed is not None and drive_id in [d.id for d in listed.data]
    assert drives.update(id=drive_id, name="Renamed").update_drive_response is not None
    assert drives.get(id=drive_id).get_drive_response.data.name == "Renamed"
    assert drives.delete(id=drive_id).delete_drive_response is not None

    groups = sdk.file_storage.drive_groups
    made = groups.create(name="team", display_name="Team").create_drive_group_response
    assert made is not None
    group_id = made.data.id
    one = groups.get(id=group_id).get_drive_group_response
    assert one is not None and one.data.display_name == "Team"
    assert group_id in [g.id for g in groups.list().get_drive_groups_response.data]
    assert groups.update(id=group_id, name="team2").update_drive_group_response is not None
    assert groups.delete(id=group_id).delete_drive_group_response is not None
    with pytest.raises(models.NotFoundResponse):
        groups.get(id=group_id)


def test_shared_links_search_export_through_the_sdk(server: Server, sdk: Apideck) -> None:
    with server.client("sdk-catalog") as client:
        file_id = upload_whole(client, "sdk shared.txt", b"through the sdk")
    links = sdk.file_storage.shared_links
    made = links.create(target_id=file_id, scope=models.Scope.PUBLIC, password=None)
    assert made.create_shared_link_response is not None
    link_id = made.create_shared_link_response.data.id
    one = links.get(id=link_id).get_shared_link_response
    assert one is not None and one.data.target is not None and one.data.target.id == file_id
    assert one.data.url is not None
    assert httpx.get(one.data.url).content == b"through the sdk"
    listed = links.list().get_shared_links_response
    assert listed is not None
    assert file_id in [x.target.id for x in listed.data if x.target is not None]
    updated = links.update(id=link_id, target_id=file_id, password="pw")
    assert updated.update_shared_link_response is not None
    assert links.get(id=link_id).get_shared_link_response.data.password_protected is True
    assert links.delete(id=link_id).delete_shared_link_response is not None
    assert httpx.get(one.data.url).status_code == 404

    found = sdk.file_storage.files.search(query="sdk shared").get_files_response
    assert found is not None and [f.id for f in found.data] == [file_id]
    exported = sdk.file_storage.files.export(id=file_id, file_format="text/plain")
    assert exported.get_file_download_response.read() == b"through the sdk"
    signed = sdk.file_storage.files.download(id=file_id, follow_redirects=False)
    assert b'"expires_at"' in signed.get_file_download_response.read()


def test_folder_copy_through_the_sdk(server: Server, sdk: Apideck) -> None:
    folder = sdk.file_storage.folders.create(name="to copy", parent_folder_id="root")
    folder_id = folder.create_folder_response.data.id
    with server.client("sdk-catalog") as client:
        upload_whole(client, "inside.txt", b"copied by the sdk", folder_id)
    copied = sdk.file_storage.folders.copy(
        id=folder_id, parent_folder_id="root", name="copied by sdk"
    ).update_folder_response
    assert copied is not None and copied.data.id != folder_id
    got = sdk.file_storage.folders.get(id=copied.data.id).get_folder_response
    assert got is not None and got.data.name == "copied by sdk"
    listed = sdk.file_storage.files.list(filter_={"folder_id": copied.data.id}).get_files_response
    assert listed is not None and [f.name for f in listed.data] == ["inside.txt"]
    download = sdk.file_storage.files.download(id=listed.data[0].id)
    assert download.get_file_download_response.read() == b"copied by the sdk"
    with pytest.raises(models.APIError) as clash:
        sdk.file_storage.folders.copy(id=folder_id, parent_folder_id="root", name="copied by sdk")
    assert clash.value.status_code == 409
