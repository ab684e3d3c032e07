"""A 1 GiB upload in 4 parallel streams: bytes match and the server's memory stays flat."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import Server, start_server, stop_server

from .helpers import MIB, create_session, finish, get_session, put_part, sha1_header

SIZE = 1024 * MIB
RSS_LIMIT = 200 * MIB


@pytest.fixture(scope="module")
def big_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("big"))
    yield srv
    stop_server(srv)


def make_file(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    block = os.urandom(16 * MIB)
    with path.open("wb") as out:
        for n in range(size // len(block)):
            # Vary each block cheaply so no two parts are alike.
            chunk = n.to_bytes(8, "little") + block[8:]
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


def peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def test_one_gib_in_four_parallel_streams(big_server: Server, tmp_path: Path) -> None:
    source = tmp_path / "big.bin"
    expected = make_file(source, SIZE)
    with big_server.client() as client:
        session_id = create_session(client, "big.bin", SIZE)
        part_size = get_session(client, session_id)["part_size"]
    count = SIZE // part_size
    fd = os.open(source, os.O_RDONLY)

    def send(number: int) -> int:
        body = os.pread(fd, part_size, number * part_size)
        with big_server.client() as own:
            return put_part(own, session_id, number, body, digest=sha1_header(body)).status_code

    try:
        with ThreadPoolExecutor(4) as pool:
            statuses = list(pool.map(send, range(count)))
    finally:
        os.close(fd)
    assert statuses == [200] * count

    with big_server.client() as client:
        res = finish(client, session_id)
        assert res.status_code == 201, res.text
        file_id = res.json()["data"]["id"]
        got = hashlib.sha256()
        with client.stream("GET", f"/file-storage/files/{file_id}/download") as stream:
            for chunk in stream.iter_bytes(4 * MIB):
                got.update(chunk)
    assert got.hexdigest() == expected
    rss = peak_rss(big_server.process.pid)
    print(f"server peak RSS after 1 GiB upload+download: {rss / MIB:.1f} MiB")
    assert rss < RSS_LIMIT
