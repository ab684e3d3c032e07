"""The official Python SDK (apideck-unify), unmodified, drives all 32 file-storage methods in one
walk against a real `partway serve`, as tests/sdk-ts/drive.mjs does with the TypeScript SDK.
Each call's outcome is recorded; the test asserts the 32 were all called and all worked."""

# The SDK types every response member as optional; these tests chain through them, and a
# None there fails the test at run time anyway.
# mypy: disable-error-code="union-attr,arg-type"

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from apideck_unify import Apideck, models

from tests.conftest import Server

from .helpers import python_sdk
from .test_sdk_ts import METHODS


@pytest.fixture
def sdk(server: Server) -> Iterator[Apideck]:
    with python_sdk(server, "sdk-py-all") as client:
        yield client


class Walk:
    def __init__(self) -> None:
        self.outcomes: dict[str, str | None] = {}

    def step(self, method: str, work: Callable[[], Any]) -> Any:
        """Run one SDK call (and its checks); None failure text when it worked."""
        try:
            result = work()
        except Exception as exc:  # recorded, asserted at the end with every other outcome
            self.outcomes[method] = f"{type(exc).__name__}: {exc}"
            return None
        self.outcomes[method] = None
        return result


def test_all_32_methods_of_the_python_sdk(server: Server, sdk: Apideck) -> None:
    fs, url, walk = sdk.file_storage, server.base_url, Walk()
    stamp = f"{time.time_ns():x}"
    payload = f"hello from the python sdk {stamp}".encode()

    def ok(condition: bool, what: str) -> None:
        if not condition:
            raise AssertionError(what)

    drive = walk.step("drives.create", lambda: fs.drives.create(name=f"py drive {stamp}"))
    drive_id = drive.create_drive_response.data.id
    walk.step("drives.list", lambda: ok(
        drive_id in [d.id for d in fs.drives.list().get_drives_response.data], "drive listed"
    ))  # fmt: skip
    walk.step("drives.get", lambda: fs.drives.get(id=drive_id).get_drive_response.data.name)
    walk.step("drives.update", lambda: fs.drives.update(id=drive_id, name="renamed"))
    walk.step("drives.delete", lambda: fs.drives.delete(id=drive_id))
    group = walk.step("driveGroups.create", lambda: fs.drive_groups.create(name="team"))
    group_id = group.create_drive_group_response.data.id
    walk.step("driveGroups.list", lambda: ok(
        group_id in [g.id for g in fs.drive_groups.list().get_drive_groups_response.data], "group"
    ))  # fmt: skip
    walk.step("driveGroups.get", lambda: fs.drive_groups.get(id=group_id).get_drive_group_response)
    walk.step("driveGroups.update", lambda: fs.drive_groups.update(id=group_id, name="team2"))
    walk.step("driveGroups.delete", lambda: fs.drive_groups.delete(id=group_id))

    made = walk.step(
        "folders.create",
        lambda: fs.folders.create(name=f"py folder {stamp}", parent_folder_id="root"),
    )
    folder_id = made.create_folder_response.data.id
    walk.step("folders.get", lambda: ok(
        fs.folders.get(id=folder_id).get_folder_response.data.name == f"py folder {stamp}", "name"
    ))  # fmt: skip
    walk.step("folders.update", lambda: fs.folders.update(id=folder_id, description="described"))

    def aborted() -> None:
        made = fs.upload_sessions.create(
            name="aborted.bin", parent_folder_id="root", size=3, server_url=url
        )
        fs.upload_sessions.delete(id=made.create_upload_session_response.data.id)

    walk.step("uploadSessions.delete", aborted)
    session = walk.step("uploadSessions.create", lambda: fs.upload_sessions.create(
        name=f"py {stamp}.txt", parent_folder_id=folder_id, size=len(payload), server_url=url
    ))  # fmt: skip
    session_id = session.create_upload_session_response.data.id
    walk.step("uploadSessions.get", lambda: fs.upload_sessions.get(id=session_id, server_url=url))
    walk.step("uploadSessions.upload", lambda: fs.upload_sessions.upload(
        id=session_id, part_number=0, request_body=payload, server_url=url
    ))  # fmt: skip
    finished = walk.step(
        "uploadSessions.finish", lambda: fs.upload_sessions.finish(id=session_id, server_url=url)
    )
    file_id = finished.get_file_response.data.id

    walk.step("files.list", lambda: ok(
        file_id in [f.id for f in fs.files.list(
            filter_={"folder_id": folder_id}).get_files_response.data], "listed"
    ))  # fmt: skip
    walk.step("files.get", lambda: ok(
        fs.files.get(id=file_id).get_file_response.data.size == len(payload), "size"
    ))  # fmt: skip
    walk.step("files.update", lambda: fs.files.update(id=file_id, description="updated"))
    walk.step("files.search", lambda: ok(
        [f.id for f in fs.files.search(query=f"{stamp}.txt").get_files_response.data] == [file_id],
        "found",
    ))  # fmt: skip
    walk.step("files.download", lambda: ok(
        fs.files.download(id=file_id).get_file_download_response.read() == payload, "bytes"
    ))  # fmt: skip
    walk.step("files.export", lambda: ok(
        fs.files.export(id=file_id, file_format="text/plain").get_file_download_response.read()
        == payload, "bytes",
    ))  # fmt: skip

    link = walk.step(
        "sharedLinks.create",
        lambda: fs.shared_links.create(target_id=file_id, scope=models.Scope.PUBLIC),
    )
    link_id = link.create_shared_link_response.data.id
    got = walk.step("sharedLinks.get", lambda: fs.shared_links.get(id=link_id))
    link_url = got.get_shared_link_response.data.url
    walk.step("sharedLinks.list", lambda: ok(
        # The SDK's SharedLink model has no id: the link is known by its target.
        file_id in [x.target.id for x in fs.shared_links.list().get_shared_links_response.data
                    if x.target is not None], "link",
    ))  # fmt: skip
    walk.step("sharedLinks.update", lambda: fs.shared_links.update(
        id=link_id, target_id=file_id, password="pw"
    ))  # fmt: skip
    walk.step("sharedLinks.delete", lambda: fs.shared_links.delete(id=link_id))
    assert httpx.get(link_url).status_code == 404

    copied = walk.step("folders.copy", lambda: fs.folders.copy(
        id=folder_id, parent_folder_id="root", name=f"py copy {stamp}"
    ))  # fmt: skip
    copy_id = copied.update_folder_response.data.id
    inside = fs.files.list(filter_={"folder_id": copy_id}).get_files_response.data
    assert [f.name for f in inside] == [f"py {stamp}.txt"]
    walk.step("files.delete", lambda: fs.files.delete(id=file_id))
    walk.step("folders.delete", lambda: fs.folders.delete(id=folder_id))

    assert set(walk.outcomes) == METHODS
    assert {m: why for m, why in walk.outcomes.items() if why is not None} == {}
