"""ENOSPC while writing a part → 507; nothing recorded, nothing else harmed, upload resumes."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Server, start_server, stop_server
from tests.system import root

from .helpers import MIB, assert_error, create_session, download, finish, get_session, put_part

SMALL_FS = 20 * MIB


@pytest.fixture(scope="module")
def small_disk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root("mounts a small tmpfs")
    mount = tmp_path_factory.mktemp("smallfs")
    # CI runs as root; a size-limited tmpfs is the small filesystem.
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={SMALL_FS}", "tmpfs", str(mount)], check=True
    )
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=True)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, small_disk: Path) -> Iterator[Server]:
    srv = start_server(
        tmp_path_factory.mktemp("diskfull"),
        {
            "PARTWAY_STORAGE": json.dumps({"local": str(small_disk)}),
            "PARTWAY_DEFAULT_PART_SIZE": str(4 * MIB),
        },
    )
    yield srv
    stop_server(srv)


def test_disk_full_gives_507_and_recovers(server: Server) -> None:
    with server.client() as c:
        filler = os.urandom(12 * MIB)
        filler_session = create_session(c, "filler.bin", len(filler))
        for n in range(3):
            chunk = filler[n * 4 * MIB : (n + 1) * 4 * MIB]
            assert put_part(c, filler_session, n, chunk).status_code == 200
        filler_file = finish(c, filler_session).json()["data"]["id"]

        payload = os.urandom(12 * MIB)
        parts = [payload[n * 4 * MIB : (n + 1) * 4 * MIB] for n in range(3)]
        session_id = create_session(c, "victim.bin", len(payload))
        statuses = [put_part(c, session_id, n, parts[n]).status_code for n in range(3)]
        assert 507 in statuses, statuses
        failed = statuses.index(507)
        body = assert_error(put_part(c, session_id, failed, parts[failed]), 507)
        assert body["type_name"] == "InsufficientStorageError"
        recorded = get_session(c, session_id)["uploaded_parts"]
        assert failed not in recorded
        assert download(c, filler_file).content == filler

        # Free space, then resume: only the missing parts, and the file is whole.
        assert c.delete(f"/file-storage/files/{filler_file}").status_code == 200
        for n in range(3):
            if n not in recorded:
                assert put_part(c, session_id, n, parts[n]).status_code == 200
        res = finish(c, session_id)
        assert res.status_code == 201, res.text
        assert download(c, res.json()["data"]["id"]).content == payload


def test_no_room_for_a_lock_file_gives_507_and_recovers(tmp_path: Path) -> None:
    """A session's first part creates its lock file (data directory, locks/): with no inode
    left there, a 507 with the error body, not a 500; once one is freed, the part goes in."""
    root("mounts a small tmpfs")
    locks = tmp_path / "data" / "locks"
    locks.mkdir(parents=True)
    # The root directory takes one inode: room for two lock files.
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m,nr_inodes=3", "tmpfs", str(locks)], check=True
    )
    srv = start_server(tmp_path, {"PARTWAY_DEFAULT_PART_SIZE": str(MIB)})
    try:
        with srv.client() as c:
            sessions = [create_session(c, f"s{n}.bin", 10) for n in range(3)]
            for session_id in sessions[:2]:
                assert put_part(c, session_id, 0, b"0123456789").status_code == 200
            body = assert_error(put_part(c, sessions[2], 0, b"0123456789"), 507)
            assert body["type_name"] == "InsufficientStorageError"
            assert "lock file" in body["message"]
            assert finish(c, sessions[0]).status_code == 201  # its lock file goes
            assert put_part(c, sessions[2], 0, b"0123456789").status_code == 200
            assert finish(c, sessions[2]).status_code == 201
    finally:
        stop_server(srv)
        subprocess.run(["umount", "-l", str(locks)], check=True)
    assert "Traceback" not in srv.log.read_text()
