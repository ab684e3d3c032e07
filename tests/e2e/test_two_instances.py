"""Two `partway serve` processes on one data directory and SQLite file: any serves any call."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import httpx

from tests.conftest import free_port, launch, start_server, stop_server

from .helpers import MIB, create_session, finish, get_session, put_part, sha1_header


def test_parts_alternate_between_instances(tmp_path: Path) -> None:
    env = {"PARTWAY_DEFAULT_PART_SIZE": str(MIB)}
    first = start_server(tmp_path, env)
    port = free_port()
    second = launch(first.data_dir, port, tmp_path / "second.log", env)
    other = f"http://127.0.0.1:{port}"
    try:
        payload = os.urandom(12 * MIB + 5)
        with first.client() as a, httpx.Client(base_url=other, headers=first.headers()) as b:
            session_id = create_session(a, "shared.bin", len(payload))
            pieces = [payload[i : i + MIB] for i in range(0, len(payload), MIB)]
            for n, piece in enumerate(pieces):
                res = put_part(a if n % 2 else b, session_id, n, piece, digest=sha1_header(piece))
                assert res.status_code == 200, res.text
            # The same part raced through both instances: one wins whole.
            race = [b"A" * MIB, b"B" * MIB]
            results: list[int] = []

            def send(client: httpx.Client, body: bytes) -> None:
                results.append(put_part(client, session_id, 0, body).status_code)

            threads = [
                threading.Thread(target=send, args=(c, body))
                for c, body in zip((a, b), race, strict=True)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert results == [200, 200]
            assert get_session(b, session_id)["uploaded_parts"] == list(range(len(pieces)))
            res = finish(b, session_id)
            assert res.status_code == 201, res.text
            got = a.get(f"/file-storage/files/{res.json()['data']['id']}/download").content
        assert got[:MIB] in race and got[MIB:] == payload[MIB:]
        assert hashlib.sha256(got[MIB:]).digest() == hashlib.sha256(payload[MIB:]).digest()
    finally:
        stop_server(first)
        second.terminate()
        second.wait(10)
