"""How create and the sessions list scale with the open sessions of one consumer.

    .venv/bin/python -m bench.sessions_scale [--sessions 20000] [--parts 50]

Builds a SQLite store at schema revision 0002 straight with SQL (sessions × parts rows, every
tenth session of unknown size, every third one missing a part in the middle), lets a real
`partway serve` upgrade it at start, then times creates and one page of the list over HTTP.
A measurement to run by hand before and after a change, not a test.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from partway.metadata import migrate
from partway.metadata.engine import make_engine

APP, CONSUMER = "app-1", "consumer-1"
PART = 8 * 1024 * 1024
SESSIONS = "/file-storage/upload-sessions"


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


def build(db: Path, sessions: int, parts: int) -> None:
    migrate.upgrade(make_engine(f"sqlite:///{db}"), "0002")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    expires = _stamp(datetime.now(UTC) + timedelta(days=6))
    conn = sqlite3.connect(db)
    session_rows = []
    for i in range(sessions):
        size = None if i % 10 == 0 else (parts + 10) * PART
        made = _stamp(start + timedelta(seconds=i))
        session_rows.append(
            (f"ses_{i:024x}", APP, CONSUMER, "local", "default", "root", f"s{i}.bin", size, PART,
             "open", f"obj_{i:024x}", made, made, expires)
        )  # fmt: skip

    def part_rows() -> Iterator[tuple[str, int, int, str]]:
        for row in session_rows:
            for n in range(parts):
                if int(row[0][4:], 16) % 3 == 0 and n == parts // 2:
                    continue
                yield (row[0], n * PART, PART, row[11])  # a part is its range

    with conn:
        conn.executemany(
            "INSERT INTO upload_sessions (id, app_id, consumer_id, service_id, drive_id, "
            "folder_id, name, size, part_size, state, storage_key, created_at, updated_at, "
            "expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            session_rows,
        )
        conn.executemany(
            "INSERT INTO upload_ranges (session_id, start, size, recorded_at) VALUES (?, ?, ?, ?)",
            part_rows(),
        )
        count = conn.execute("SELECT COUNT(*) FROM upload_ranges").fetchone()[0]
    conn.close()
    print(f"built {len(session_rows)} sessions, {count} parts")


def serve(data: Path, port: int, log: Path) -> tuple[subprocess.Popen[bytes], float]:
    env = {
        **os.environ,
        "PARTWAY_DATA_DIR": str(data),
        "PARTWAY_FSYNC": "false",
        "PARTWAY_MAX_OPEN_SESSIONS": "10000000",
        "PARTWAY_DEFAULT_QUOTA_BYTES": str(10**18),
        "PARTWAY_REAP_INTERVAL_SECONDS": "100000",
    }
    began = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "partway", "serve", "--port", str(port)],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return process, time.monotonic() - began
        except httpx.TransportError:
            if process.poll() is not None:
                raise RuntimeError(log.read_text()[-3000:]) from None
            time.sleep(0.05)


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def timed(call: object, runs: int) -> list[float]:
    took = []
    for _ in range(runs):
        began = time.perf_counter()
        call()  # type: ignore[operator]
        took.append((time.perf_counter() - began) * 1000)
    return took


def report(what: str, took: list[float]) -> None:
    took = sorted(took)
    p90 = took[int(len(took) * 0.9) - 1] if len(took) >= 10 else took[-1]
    print(f"{what}: median {statistics.median(took):.1f} ms, p90 {p90:.1f} ms, n={len(took)}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=20_000)
    parser.add_argument("--parts", type=int, default=50)
    parser.add_argument("--port", type=int, default=18377)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="partway-scale-") as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        build(data / "partway.db", args.sessions, args.parts)
        key = subprocess.run(
            [sys.executable, "-m", "partway", "keys", "create", "--app-id", APP,
             "--data-dir", str(data)],
            check=True, capture_output=True, text=True,
        ).stdout.strip()  # fmt: skip
        process, ready = serve(data, args.port, Path(tmp) / "server.log")
        print(f"server ready (schema upgraded) in {ready:.1f} s")
        headers = {
            "Authorization": f"Bearer {key}",
            "x-apideck-app-id": APP,
            "x-apideck-consumer-id": CONSUMER,
        }
        try:
            with httpx.Client(
                base_url=f"http://127.0.0.1:{args.port}", headers=headers, timeout=600
            ) as client:
                names = iter(range(10**6))

                def create() -> None:
                    body = {"name": f"new{next(names)}.bin", "parent_folder_id": "root",
                            "size": PART}  # fmt: skip
                    res = client.post(SESSIONS, json=body)
                    assert res.status_code == 201, res.text

                create()
                report("create", timed(create, args.runs))
                for params in ({}, {"limit": "200"}):

                    def page(params: dict[str, str] = params) -> None:
                        res = client.get(SESSIONS, params=params)
                        assert res.status_code == 200, res.text

                    page()
                    report(f"list, first page {params}", timed(page, max(3, args.runs // 6)))
                    res = client.get(SESSIONS, params=params)
                    first = res.json()
                    print(
                        f"  body {len(res.content) / 1e6:.2f} MB, {len(first['data'])} sessions, "
                        f"next cursor {'set' if first['meta']['cursors']['next'] else 'none'}"
                    )
                print(f"server peak RSS {peak_rss_mib(process.pid):.0f} MiB")
        finally:
            process.terminate()
            process.wait(10)


if __name__ == "__main__":
    main()
