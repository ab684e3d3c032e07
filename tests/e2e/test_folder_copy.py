"""Folder copy (issue #18): a deep copy with its own bytes, scoped to its tenant, counted against
the quota, and atomic — a server SIGKILLed mid-copy leaves nothing half-visible, and what the
copy had made is reclaimed after a restart."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Server, free_port, launch, start_server, stop_server

from .helpers import assert_error

FOLDERS = "/file-storage/folders"
FILES = "/file-storage/files"


@pytest.fixture
def client(server: Server) -> Iterator[httpx.Client]:
    with server.client("copy-consumer") as c:
        yield c


def folder(client: httpx.Client, name: str, parent: str = "root") -> str:
    res = client.post(FOLDERS, json={"name": name, "parent_folder_id": parent})
    assert res.status_code == 201, res.text
    folder_id: str = res.json()["data"]["id"]
    return folder_id


def put_file(client: httpx.Client, name: str, parent: str, payload: bytes) -> str:
    meta = json.dumps({"name": name, "parent_folder_id": parent})
    res = client.post(FILES, content=payload, headers={"x-apideck-metadata": meta})
    assert res.status_code == 201, res.text
    file_id: str = res.json()["data"]["id"]
    return file_id


def children(client: httpx.Client, folder_id: str) -> dict[str, dict[str, Any]]:
    res = client.get(FILES, params={"filter[folder_id]": folder_id, "limit": 200})
    assert res.status_code == 200, res.text
    return {e["name"]: e for e in res.json()["data"]}


def copy(client: httpx.Client, folder_id: str, parent: str, **body: Any) -> httpx.Response:
    return client.post(f"{FOLDERS}/{folder_id}/copy", json={"parent_folder_id": parent, **body})


def test_a_tree_is_copied_with_its_bytes(client: httpx.Client) -> None:
    top = folder(client, "Projects")
    inner = folder(client, "Inner", top)
    deep = folder(client, "Deep", inner)
    payloads = {"a.txt": b"alpha" * 1000, "b.bin": os.urandom(300_000), "empty": b""}
    put_file(client, "a.txt", top, payloads["a.txt"])
    put_file(client, "b.bin", inner, payloads["b.bin"])
    put_file(client, "empty", deep, payloads["empty"])

    res = copy(client, top, "root", name="Projects (copy)")
    assert res.status_code == 200, res.text
    body = res.json()
    assert (body["resource"], body["operation"]) == ("Folders", "copy")
    new_top = body["data"]["id"]
    assert new_top != top
    got = client.get(f"{FOLDERS}/{new_top}").json()["data"]
    assert got["name"] == "Projects (copy)"
    assert [f["id"] for f in got["parent_folders"]] == ["root"]

    level1 = children(client, new_top)
    assert set(level1) == {"a.txt", "Inner"}
    level2 = children(client, level1["Inner"]["id"])
    assert set(level2) == {"b.bin", "Deep"}
    level3 = children(client, level2["Deep"]["id"])
    assert set(level3) == {"empty"}
    copied = {"a.txt": level1["a.txt"], "b.bin": level2["b.bin"], "empty": level3["empty"]}
    for name, entry in copied.items():
        download = client.get(f"{FILES}/{entry['id']}/download")
        assert download.status_code == 200 and download.content == payloads[name], name
        assert entry["size"] == len(payloads[name])
    # The copy's bytes are its own: deleting a copied file leaves the original readable.
    assert client.delete(f"{FILES}/{copied['a.txt']['id']}").status_code == 200
    original = children(client, top)["a.txt"]
    assert client.get(f"{FILES}/{original['id']}/download").content == payloads["a.txt"]


def test_names_default_clash_and_no_copy_into_itself(client: httpx.Client) -> None:
    src = folder(client, "Reports")
    put_file(client, "r.txt", src, b"r")
    dest = folder(client, "Archive")
    res = copy(client, src, dest)
    assert res.status_code == 200, res.text
    assert set(children(client, dest)) == {"Reports"}
    # The spec is silent on clashes: refused like any create in a folder holding the name.
    assert_error(copy(client, src, dest), 409, "ConflictError")
    assert_error(copy(client, src, "root"), 409, "ConflictError")
    assert_error(copy(client, src, src, name="loop"), 400, "RequestValidationError")
    assert_error(copy(client, "fld_000000000000000000000000", "root"), 404)
    assert_error(copy(client, src, "fld_000000000000000000000000", name="x"), 404)
    assert_error(
        client.post(f"{FOLDERS}/{src}/copy", json={"name": "no parent"}),
        400,
        "RequestValidationError",
    )


def test_another_tenant_can_neither_copy_nor_be_copied_into(
    server: Server, client: httpx.Client
) -> None:
    mine = folder(client, "Private")
    put_file(client, "secret.txt", mine, b"s")
    with server.client("copy-intruder") as other:
        theirs = folder(other, "Theirs")
        assert_error(copy(other, mine, "root", name="stolen"), 404, "EntityNotFoundError")
        assert_error(copy(other, mine, theirs), 404, "EntityNotFoundError")
        assert_error(copy(client, mine, theirs), 404, "EntityNotFoundError")
        assert children(other, theirs) == {}
        names = [e["name"] for e in other.get(FILES).json()["data"]]
        assert "stolen" not in names and "Private" not in names


def test_a_copy_past_the_quota_is_refused_whole(tmp_path: Path) -> None:
    srv = start_server(tmp_path, {"PARTWAY_DEFAULT_QUOTA_BYTES": "1000"})
    try:
        with srv.client() as c:
            src = folder(c, "Big")
            put_file(c, "six hundred", src, b"x" * 600)
            assert_error(copy(c, src, "root", name="Big 2"), 402, "RequestLimitError")
            assert set(children(c, "root")) == {"Big"}
            # Nothing stays counted: 400 bytes still fit.
            put_file(c, "four hundred", "root", b"y" * 400)
            assert_error(copy(c, src, "root", name="Big 3"), 402, "RequestLimitError")
        assert len(list((srv.data_dir / "objects").iterdir())) == 2
    finally:
        stop_server(srv)


def count_objects(data_dir: Path) -> int:
    return sum(1 for _ in (data_dir / "objects").iterdir())


def db_count(data_dir: Path, query: str) -> int:
    conn = sqlite3.connect(f"file:{data_dir / 'partway.db'}?mode=ro", uri=True, timeout=10)
    try:
        value: int = conn.execute(query).fetchone()[0]
        return value
    finally:
        conn.close()


def test_sigkill_mid_copy_leaves_nothing_half_visible(tmp_path: Path) -> None:
    env = {"PARTWAY_REAP_INTERVAL_SECONDS": "1", "PARTWAY_FSYNC": "true"}
    srv = start_server(tmp_path, env)
    files, size = 300, 256 * 1024
    try:
        with srv.client() as c:
            src = folder(c, "Many")
            subs = [folder(c, f"sub{n}", src) for n in range(3)]
            for n in range(files):
                put_file(c, f"f{n:04}.bin", subs[n % 3], os.urandom(size))
        before_entries = db_count(srv.data_dir, "SELECT count(*) FROM entries")
        before_stored = db_count(srv.data_dir, "SELECT sum(stored_bytes) FROM tenant_usage")
        assert count_objects(srv.data_dir) == files

        def copy_in_background() -> None:
            with srv.client() as c, pytest.raises(httpx.TransportError):
                copy(c, src, "root", name="Many copy")

        copying = threading.Thread(target=copy_in_background)
        copying.start()
        deadline = time.monotonic() + 30
        while count_objects(srv.data_dir) < files + 20:
            assert time.monotonic() < deadline, "the copy never started"
            time.sleep(0.002)
        os.kill(srv.process.pid, signal.SIGKILL)
        srv.process.wait()
        copying.join()
        # Killed in flight: some bytes copied, not all; the copy's rows are there, hidden.
        assert files < count_objects(srv.data_dir) < 2 * files
        assert db_count(srv.data_dir, "SELECT count(*) FROM folder_copies") == 1
        assert db_count(srv.data_dir, "SELECT count(*) FROM entries") > before_entries

        port = free_port()
        srv.process = launch(srv.data_dir, port, srv.log, env)
        srv.base_url = f"http://127.0.0.1:{port}"
        with srv.client() as c:
            # Nothing of the copy shows: not in its parent, not in the drive, not in search.
            assert set(children(c, "root")) == {"Many"}
            listed = c.get(FILES, params={"limit": 200}).json()["data"]
            assert "Many copy" not in {e["name"] for e in listed}
            found = c.post(f"{FILES}/search", json={"query": "f0001"}).json()["data"]
            assert len(found) == 1
            # The reaper drops the dead copy's rows, counted bytes and objects.
            deadline = time.monotonic() + 30
            while db_count(srv.data_dir, "SELECT count(*) FROM folder_copies"):
                assert time.monotonic() < deadline, "the dead copy was never reclaimed"
                time.sleep(0.2)
            assert count_objects(srv.data_dir) == files
            assert db_count(srv.data_dir, "SELECT count(*) FROM entries") == before_entries
            stored = db_count(srv.data_dir, "SELECT sum(stored_bytes) FROM tenant_usage")
            assert stored == before_stored == files * size
            # And a copy made now goes through whole.
            res = copy(c, src, "root", name="Many copy")
            assert res.status_code == 200, res.text
            assert count_objects(srv.data_dir) == 2 * files
    finally:
        stop_server(srv)
