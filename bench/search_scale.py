"""Search latency at scale: POST /file-storage/files/search over one consumer's 100,000 files.

    .venv/bin/python -m bench.search_scale [--files 100000] [--runs 30]

Builds a SQLite store at the current schema straight with SQL (files spread over 100 folders,
two of ten levels deep; the triggers of migration 0006 fill the name index as rows go in, and
another consumer's files stand beside them), then times searches over HTTP against a real
`partway serve`. A measurement to run by hand, not a test.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bench.sessions_scale import APP, CONSUMER, peak_rss_mib, report, serve, timed
from partway.metadata import migrate
from partway.metadata.engine import make_engine

WORDS = ["invoice", "report", "photo", "draft", "budget", "contract", "slides", "notes",
         "scan", "backup", "summary", "agenda", "minutes", "plan", "design", "logo"]  # fmt: skip
EXTS = ["pdf", "jpg", "png", "docx", "txt", "xlsx"]
FOLDERS = 100


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


def build(db: Path, files: int) -> None:
    migrate.upgrade(make_engine(f"sqlite:///{db}"))
    rng = random.Random(18)
    made = _stamp(datetime(2026, 1, 1, tzinfo=UTC))
    rows: list[tuple[str, str, str, str, str, int | None, str]] = []
    for consumer, count in ((CONSUMER, files), ("neighbour", files // 10)):
        for f in range(FOLDERS):
            # Folder f lives in folder f // 10 - 1 (0-9 at the root): a tree two levels deep.
            parent = "root" if f < 10 else f"fld_{consumer[:3]}{f // 10 - 1:021x}"
            rows.append((f"fld_{consumer[:3]}{f:021x}", consumer, parent, f"folder {f}",
                         "folder", None, made))  # fmt: skip
        for i in range(count):
            name = f"{rng.choice(WORDS)} {rng.choice(WORDS)} {i}.{rng.choice(EXTS)}"
            parent = f"fld_{consumer[:3]}{i % FOLDERS:021x}"
            rows.append((f"file_{consumer[:3]}{i:020x}", consumer, parent, name, "file", 1, made))
    conn = sqlite3.connect(db)
    with conn:
        conn.executemany(
            "INSERT INTO entries (id, app_id, consumer_id, drive_id, parent_id, name, kind, "
            f"size, created_at, updated_at) VALUES (?, '{APP}', ?, 'default', ?, ?, ?, ?, ?, ?)",
            [(*r, r[-1]) for r in rows],
        )
    conn.close()
    print(f"built {len(rows)} entries ({files} files of the measured consumer)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--port", type=int, default=18378)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="partway-search-") as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        began = time.monotonic()
        build(data / "partway.db", args.files)
        print(f"  in {time.monotonic() - began:.1f} s")
        key = subprocess.run(
            [sys.executable, "-m", "partway", "keys", "create", "--app-id", APP,
             "--data-dir", str(data)],
            check=True, capture_output=True, text=True,
        ).stdout.strip()  # fmt: skip
        process, _ = serve(data, args.port, Path(tmp) / "server.log")
        headers = {
            "Authorization": f"Bearer {key}",
            "x-apideck-app-id": APP,
            "x-apideck-consumer-id": CONSUMER,
        }
        subtree = f"fld_{CONSUMER[:3]}{3:021x}"
        cases = [
            ("one rare name (exact number)", {"query": "777.pdf"}, {}),
            ("two words, ~1/256 of files", {"query": "logo budget"}, {}),
            ("common word, ~1/8 of files", {"query": "report"}, {}),
            (
                "common word below a folder (~11% of files)",
                {"query": "report"},
                {"filter[folder_id]": subtree},
            ),
            ("two letters (no trigram: scan)", {"query": "lo"}, {}),
            ("no match", {"query": "zzzzqqq"}, {}),
        ]
        try:
            with httpx.Client(
                base_url=f"http://127.0.0.1:{args.port}", headers=headers, timeout=600
            ) as client:
                for what, body, params in cases:

                    def search(
                        body: dict[str, str] = body, params: dict[str, str] = params
                    ) -> None:
                        res = client.post("/file-storage/files/search", json=body, params=params)
                        assert res.status_code == 200, res.text

                    search()
                    report(what, timed(search, args.runs))
                page_params = {"limit": "200"}
                res = client.post("/file-storage/files/search", json={"query": "report"},
                                  params=page_params).json()  # fmt: skip
                pages, began = 1, time.perf_counter()
                while res["meta"]["cursors"]["next"] and pages < 20:
                    cursor = res["meta"]["cursors"]["next"]
                    res = client.post("/file-storage/files/search", json={"query": "report"},
                                      params={**page_params, "cursor": cursor}).json()  # fmt: skip
                    pages += 1
                took = (time.perf_counter() - began) * 1000 / max(1, pages - 1)
                print(f"paging 'report' by 200: {took:.1f} ms per next page over {pages} pages")
                print(f"server peak RSS {peak_rss_mib(process.pid):.0f} MiB")
        finally:
            process.terminate()
            process.wait(10)


if __name__ == "__main__":
    main()
