"""The resumable-upload front (issue #19): partway's tus endpoint next to the tus servers in the
bench, the same client and file, P=1.

python -m bench.fronts [--runs 5] [--size-mib 512]   → the "## tus front" section of
docs/benchmarks.md (the peers are those `bench/run` installs: run it once first). Rows run
interleaved (every row once a round); compare rows of one report only. The peers' file stores
do not fsync, so partway runs with fsync off here too.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import httpx

from . import __main__ as full
from .measure import MIB, ROOT, Row, run_client
from .report import FRONTS_HEADING, _table, machine, replace_section

HEADING = FRONTS_HEADING
console = full.console
TUS_ROW = "partway's tus endpoint (/uploads), P=1, fsync off"


def partway_tus_row(bench: full.Bench) -> None:
    row = Row(TUS_ROW, "partway")
    server, key, _ = bench.partway_server("tus-front", False)
    counter = iter(range(10**6))

    def once() -> dict[str, Any]:
        name = f"t{next(counter)}.bin"
        args = ["--key", key, "--tus-path", "/uploads", "--name", name]
        result = run_client("tus", server.url, bench.source, *args)
        # The finished session names its file: read back through the Apideck API.
        headers = {
            "Authorization": f"Bearer {key}",
            "x-apideck-app-id": "bench",
            "x-apideck-consumer-id": "bench",
        }
        session = httpx.get(
            f"{server.url}/file-storage/upload-sessions/{result['location']}", headers=headers
        ).json()["data"]
        return {**result, "file_id": session["file_id"]}

    bench.measured(row, server, once, lambda r: bench.stored_ok(server.url, key, r["file_id"]))


def report(bench: full.Bench) -> str:
    rows = bench.rows
    ours = next(r for r in rows if r.name == TUS_ROW)
    peers = [r for r in rows if r.group == "peer"]
    fastest = max(peers, key=lambda r: r.median) if peers else None
    lines = [
        f"{HEADING} (issue #19): partway's /uploads next to tus servers, same run",
        "",
        f"- Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; machine: {machine()}",
        f"- File: {bench.size // MIB} MiB of random bytes; bench/client.py's tus client (POST "
        "with Upload-Length, then one 8 MiB PATCH after another, sendfile); "
        f"{bench.runs} run(s) a row, interleaved; fsync off everywhere (the peers' file "
        "stores do not fsync). Stored bytes checked by SHA-256 (partway: through the Apideck "
        "API).",
        "- Command: `python -m bench.fronts` (bench/fronts.py).",
        "",
        *_table(rows),
        "",
    ]
    if fastest is not None:
        lines += [
            "| comparison | ratio | goal |",
            "|---|---:|---:|",
            f"| partway's tus endpoint ÷ the faster peer ({fastest.name.split(',')[0]}) "
            f"| {ours.median / fastest.median:.2f} | ≥ 1.5 |",
            "",
        ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.fronts")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--size-mib", type=int, default=512)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one run a row")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / ".work" / "fronts")
    args = parser.parse_args()
    args.peers, args.only_s3 = True, False
    if args.smoke:
        args.runs, args.size_mib = 1, 16
    bench = full.Bench(args)
    try:
        partway_tus_row(bench)
        bench.peer_rows()
        bench.interleaved()
    finally:
        for queued in bench.pending:
            queued.server.stop()
    replace_section(args.out, HEADING, report(bench))
    console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
