"""Folder copy on local disk: POST /file-storage/folders/{id}/copy of a tree of 1,000 files
holding 2 GiB, against a real `partway serve`.

    .venv/bin/python -m bench.folder_copy [--files 1000] [--total-mib 2048] [--no-fsync]

Uploads the tree (10 folders of 100 files, random bytes), then times the copy and reads what it
cost: bytes the server process wrote (/proc/PID/io write_bytes, every thread, SQLite included)
and the filesystem's used space (statvfs) before and after. A reflink copy writes almost
nothing; copy_file_range on ext4 writes every byte, but inside the kernel. A measurement to run
by hand, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

APP, CONSUMER = "bench-app", "bench-consumer"
FOLDERS = 10
MIB = 1024 * 1024


def serve(data: Path, port: int, fsync: bool) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PARTWAY_DATA_DIR": str(data),
        "PARTWAY_FSYNC": "true" if fsync else "false",
        "PARTWAY_REAP_INTERVAL_SECONDS": "100000",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "partway", "serve", "--port", str(port)],
        env=env,
        stdout=(data.parent / "server.log").open("ab"),
        stderr=subprocess.STDOUT,
    )
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return process
        except httpx.TransportError:
            if process.poll() is not None:
                raise RuntimeError("the server exited") from None
            time.sleep(0.05)


def written_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("write_bytes:"):
            return int(line.split()[1])
    raise RuntimeError("no write_bytes in /proc/PID/io")


def used_bytes(path: Path) -> int:
    fs = os.statvfs(path)
    return (fs.f_blocks - fs.f_bfree) * fs.f_frsize


def build_tree(client: httpx.Client, files: int, size: int) -> str:
    top = client.post("/file-storage/folders", json={"name": "tree", "parent_folder_id": "root"})
    top_id = top.json()["data"]["id"]
    folders = []
    for n in range(FOLDERS):
        made = client.post(
            "/file-storage/folders", json={"name": f"d{n}", "parent_folder_id": top_id}
        )
        folders.append(made.json()["data"]["id"])
    block = os.urandom(size)

    def upload(n: int) -> None:
        meta = json.dumps({"name": f"f{n:05}.bin", "parent_folder_id": folders[n % FOLDERS]})
        # Each file differs in its first bytes, so no store could deduplicate them.
        body = n.to_bytes(8, "big") + block[8:]
        res = client.post("/file-storage/files", content=body, headers={"x-apideck-metadata": meta})
        res.raise_for_status()

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(upload, range(files)))
    return str(top_id)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--total-mib", type=int, default=2048)
    parser.add_argument("--port", type=int, default=18379)
    parser.add_argument("--dir", type=Path, default=None, help="where the data dir goes")
    parser.add_argument("--no-fsync", action="store_true")
    args = parser.parse_args()
    size = args.total_mib * MIB // args.files
    with tempfile.TemporaryDirectory(prefix="partway-copy-", dir=args.dir) as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        key = subprocess.run(
            [sys.executable, "-m", "partway", "keys", "create", "--init", "--app-id", APP,
             "--data-dir", str(data)],
            check=True, capture_output=True, text=True,
        ).stdout.strip()  # fmt: skip
        process = serve(data, args.port, not args.no_fsync)
        headers = {
            "Authorization": f"Bearer {key}",
            "x-apideck-app-id": APP,
            "x-apideck-consumer-id": CONSUMER,
        }
        base = f"http://127.0.0.1:{args.port}"
        try:
            with httpx.Client(base_url=base, headers=headers, timeout=3600) as client:
                began = time.monotonic()
                top = build_tree(client, args.files, size)
                print(f"uploaded {args.files} files of {size} bytes in "
                      f"{time.monotonic() - began:.1f} s")  # fmt: skip
                os.sync()
                wrote, used = written_bytes(process.pid), used_bytes(data)
                began = time.perf_counter()
                res = client.post(
                    f"/file-storage/folders/{top}/copy",
                    json={"parent_folder_id": "root", "name": "tree copy"},
                )
                took = time.perf_counter() - began
                res.raise_for_status()
                os.sync()
                wrote = written_bytes(process.pid) - wrote
                used = used_bytes(data) - used
        finally:
            process.terminate()
            process.wait()
    total = args.files * size
    print(f"copy of {args.files} files, {total / MIB:.0f} MiB (fsync {not args.no_fsync}): "
          f"{took:.2f} s, {total / MIB / took:.0f} MiB/s")  # fmt: skip
    print(f"  server write_bytes {wrote / MIB:.0f} MiB ({wrote / total:.2f}× the data), "
          f"filesystem used +{used / MIB:.0f} MiB")  # fmt: skip


if __name__ == "__main__":
    main()
