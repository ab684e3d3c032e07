"""Kill the server with SIGKILL at random moments during parallel uploads, 20 times over.

After every kill the metadata must agree with the bytes (every recorded part's SHA-1 matches what
is on disk), and in the end every file must arrive whole: 0 corrupt, 0 lost.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from awscrt import checksums

from partway.client import ApiError, Credentials, RetryPolicy, UploadOptions, upload_async
from tests.conftest import create_key, free_port, launch

MIB = 1024 * 1024
ROUNDS = 20
ENV = {"PARTWAY_DEFAULT_PART_SIZE": str(MIB), "PARTWAY_ORPHAN_GRACE_SECONDS": "2"}


@dataclass
class Pending:
    path: Path
    sha256: str
    file_id: str | None = None


@dataclass
class Tally:
    done: list[Pending] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def new_file(directory: Path, name: str, rng: random.Random) -> Pending:
    data = rng.randbytes(rng.randint(6, 20) * MIB + rng.randint(0, MIB))
    path = directory / name
    path.write_bytes(data)
    return Pending(path, hashlib.sha256(data).hexdigest())


def upload_all(base_url: str, creds: Credentials, files: list[Pending], state: Path) -> Tally:
    tally = Tally()

    async def one(item: Pending) -> None:
        try:
            file = await upload_async(
                item.path,
                server=base_url,
                credentials=creds,
                options=UploadOptions(parallel=3),
                state_dir=state,
                retry=RetryPolicy(attempts=2, initial=0.05, maximum=0.1),
            )
        except (httpx.TransportError, ApiError) as exc:
            tally.errors.append(f"{item.path.name}: {type(exc).__name__}: {exc}")
            return
        item.file_id = str(file["id"])
        tally.done.append(item)

    async def run() -> None:
        await asyncio.gather(*(one(item) for item in files))

    asyncio.run(run())
    return tally


def check_parts_match_bytes(data_dir: Path) -> int:
    """Every recorded range (and every finished file) matches the bytes on disk by the digest
    it was sent with: the uploader's default, CRC32C, or SHA-1."""
    db = sqlite3.connect(data_dir / "partway.db")
    rows = db.execute(
        "SELECT s.storage_key, r.start, r.size, r.sha1, r.crc32c FROM upload_ranges r "
        "JOIN upload_sessions s ON s.id = r.session_id WHERE s.state IN ('open', 'finishing')"
    ).fetchall()
    for key, start, size, sha1, crc in rows:
        with (data_dir / "objects" / key).open("rb") as f:
            f.seek(start)
            assert digests_match(f.read(size), sha1, crc), f"{key} range at {start}"
    query = "SELECT storage_key, sha1, crc32c FROM entries WHERE kind = 'file'"
    for key, sha1, crc in db.execute(query):
        assert digests_match((data_dir / "objects" / key).read_bytes(), sha1, crc), key
    db.close()
    return len(rows)


def digests_match(data: bytes, sha1: str | None, crc: str | None) -> bool:
    assert sha1 is not None or crc is not None, "a range or file without a digest"
    crc_now: int = checksums.crc32c(data)
    return (sha1 is None or hashlib.sha1(data).hexdigest() == sha1) and (
        crc is None or f"{crc_now:08x}" == crc
    )


def test_sigkill_rounds_lose_and_corrupt_nothing(tmp_path: Path) -> None:
    rng = random.Random(20261125)
    data_dir, sources, state = tmp_path / "data", tmp_path / "src", tmp_path / "state"
    sources.mkdir()
    key = create_key(data_dir, "app-1", {**os.environ, "PARTWAY_DATA_DIR": str(data_dir)})
    creds = Credentials(key, "app-1", "crash")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    pending: list[Pending] = []
    finished: list[Pending] = []
    kills_mid_upload = 0

    for round_no in range(ROUNDS):
        pending += [new_file(sources, f"r{round_no}-{n}.bin", rng) for n in range(2)]
        server = launch(data_dir, port, log, ENV)
        result: list[Tally] = []
        worker = threading.Thread(
            target=lambda out, files: out.append(upload_all(base_url, creds, files, state)),
            args=(result, list(pending)),
        )
        worker.start()
        # Soon enough that most kills land mid-upload (the uploader got faster: at 0.4 s, 9 of
        # 20 did, one short of the half this test asks for).
        worker.join(timeout=rng.uniform(0.02, 0.2))
        if worker.is_alive():
            kills_mid_upload += 1
        server.send_signal(signal.SIGKILL)
        server.wait()
        worker.join()
        for item in result[0].done:
            pending.remove(item)
            finished.append(item)
        check_parts_match_bytes(data_dir)

    server = launch(data_dir, port, log, ENV)
    try:
        tally = upload_all(base_url, creds, list(pending), state)
        assert tally.errors == []
        finished += tally.done
        assert len(finished) == 2 * ROUNDS
        corrupt = lost = 0
        headers = creds.headers()
        for item in finished:
            res = httpx.get(
                f"{base_url}/file-storage/files/{item.file_id}/download", headers=headers
            )
            if res.status_code != 200:
                lost += 1
            elif hashlib.sha256(res.content).hexdigest() != item.sha256:
                corrupt += 1
        listed = httpx.get(
            f"{base_url}/file-storage/files", headers=headers, params={"limit": 200}
        ).json()["data"]
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait()
    print(
        f"{ROUNDS} rounds, {kills_mid_upload} kills mid-upload, {len(finished)} files: "
        f"{corrupt} corrupt, {lost} lost"
    )
    assert (corrupt, lost) == (0, 0)
    assert sorted(e["name"] for e in listed) == sorted(i.path.name for i in finished)
    assert kills_mid_upload >= ROUNDS // 2

    # Orphans left by the kills are swept; every object left is referenced.
    subprocess.run(
        [sys.executable, "-m", "partway", "reap", "--once", "--data-dir", str(data_dir)],
        env={**os.environ, "PARTWAY_ORPHAN_GRACE_SECONDS": "0"},
        check=True,
        capture_output=True,
    )
    db = sqlite3.connect(data_dir / "partway.db")
    referenced = {k for (k,) in db.execute("SELECT storage_key FROM entries")}
    referenced |= {k for (k,) in db.execute("SELECT storage_key FROM upload_sessions")}
    assert set(os.listdir(data_dir / "objects")) <= referenced
