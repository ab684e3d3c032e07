"""Integrity at line rate (issue #22): the cost of part and whole-file digests, same run.

python -m bench.integrity [--runs 5] [--size-mib 512]   → the "## Integrity" section of
docs/benchmarks.md. Every row runs once a round, interleaved, so rows meet the same machine
weather; compare rows of one report only. `--only-uploader`: just `partway upload` and the bench
client with its digests (the ratio of issue #22), printed, not written unless `--out` is given.
"""

from __future__ import annotations

import argparse
import compileall
import statistics
import time
from pathlib import Path
from typing import Any

from . import __main__ as full
from .measure import MB, MIB, ROOT, Row, median, run_client
from .report import INTEGRITY_HEADING, _table, machine, replace_section

HEADING = INTEGRITY_HEADING
console = full.console

# (row title, bench client flags, fsync)
CLIENT_ROWS = [
    ("partway, P=4, no digests, fsync off", [], False),
    ("partway, P=4, part SHA-1, fsync off", ["--digests"], False),
    ("partway, P=4, part CRC32C, fsync off", ["--crc"], False),
    ("partway, P=4, part + whole-file CRC32C, fsync off", ["--crc", "--whole-digest"], False),
    ("partway, P=4, part + whole-file SHA-1, fsync off", ["--digests", "--whole-digest"], False),
    (
        "bench client with the uploader's digests (part + whole-file CRC32C), P=4, fsync on",
        ["--crc", "--whole-digest"],
        True,
    ),
    (
        "bench client with the uploader's digests (part + whole-file SHA-1), P=4, fsync on",
        ["--digests", "--whole-digest"],
        True,
    ),
    # With fsync on the server waits for this VM's disk (dd: 400-950 MB/s): the uploader's own
    # speed shows where the disk is not the limit.
    (
        "bench client with the uploader's digests (part + whole-file CRC32C), P=4, fsync off",
        ["--crc", "--whole-digest"],
        False,
    ),
]


def client_row(bench: full.Bench, title: str, flags: list[str], fsync: bool) -> None:
    row = Row(title, "partway")
    server, key, _ = bench.partway_server(f"integrity-{len(bench.rows)}", fsync)
    counter = iter(range(10**6))

    def once() -> dict[str, Any]:
        args = ["--parallel", "4", "--key", key, "--name", f"i{next(counter)}.bin", *flags]
        return run_client("partway", server.url, bench.source, *args)

    bench.measured(row, server, once, lambda r: bench.stored_ok(server.url, key, r["file_id"]))


def finish_latency(bench: full.Bench, sizes: list[int]) -> list[tuple[int, str, float, float]]:
    """Finish with a whole-file digest, by file size: CRC32C (combined) against SHA-1 (read)."""
    found = []
    for mib in sizes:
        path = bench.work / f"finish-{mib}.bin"
        full.make_source(path, mib * MIB)
        for name, flags in [("CRC32C", ["--crc"]), ("SHA-1", ["--digests"])]:
            server, key, _ = bench.partway_server(f"finish-{mib}-{name}", True)
            try:
                args = ["--parallel", "4", "--key", key, *flags, "--whole-digest"]
                result = run_client("partway", server.url, path, *args)
                mbps = result["bytes"] / MB / result["seconds"]
                found.append((mib, name, result["finish_seconds"], mbps))
            finally:
                server.stop()
            console.print(f"finish {mib} MiB {name}: {found[-1][2] * 1000:.1f} ms")
        path.unlink()
    return found


def ratio(rows: list[Row], a: str, b: str) -> str:
    """The median of the rounds' own ratios (min–max): rows run interleaved, so each round's
    pair met the same machine weather, which swings more between rounds than between rows."""
    ra = next((r for r in rows if r.name.startswith(a)), None)
    rb = next((r for r in rows if r.name.startswith(b)), None)
    if ra is None or rb is None or not rb.median:
        return "–"  # a row this run left out (--only-uploader)
    if len(ra.mbps) != len(rb.mbps):  # a failed run left a gap: rounds no longer pair up
        return f"{ra.median / rb.median:.2f} (medians)"
    pairs = [x / y for x, y in zip(ra.mbps, rb.mbps, strict=True)]
    return f"{statistics.median(pairs):.2f} ({min(pairs):.2f}–{max(pairs):.2f})"


def process_ratio(rows: list[Row], uploader: str, client: str) -> str:
    """`partway upload` (always timed as a whole process) against the bench client timed the
    same way: its own start (interpreter, imports) and exit counted too."""
    ra = next((r for r in rows if r.name.startswith(uploader)), None)
    rb = next((r for r in rows if r.name.startswith(client)), None)
    if ra is None or rb is None or not rb.process_mbps:
        return "–"
    return f"{ra.median / median(rb.process_mbps):.2f}"


def report(bench: full.Bench, finishes: list[tuple[int, str, float, float]]) -> str:
    rows = bench.rows
    p4 = "partway, P=4, "
    up = "partway's uploader (`partway upload`, process start included), P=4, "
    bc = "bench client with the uploader's digests (part + whole-file "
    up_crc, bc_crc = up + "part + whole-file CRC32C, fsync ", bc + "CRC32C), P=4, fsync "
    lines = [
        f"{HEADING} (issue #22): digests at line rate, same run",
        "",
        f"- Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; machine: {machine()}",
        f"- File: {bench.size // MIB} MiB of random bytes, 8 MiB parts; {bench.runs} run(s) a "
        "row, interleaved (every row once a round, each round starting one row later, a sync "
        "before every run); client and server share the 2 cores, which other sessions were "
        "using too: compare rows of this table only.",
        "- Client: bench/client.py (sendfile); `--crc`: part CRC32Cs from a mapping of the file "
        "(fastcrc), the whole-file CRC32C combined from them (no read); SHA-1: part SHA-1s, the "
        "whole file's SHA-1 read alongside the parts, and the server reads the file at finish.",
        "- fsync on: each part's fdatasync waits for the disk (this VM's wrote 400-950 MB/s "
        "with dd, O_DIRECT or fdatasync), so those rows meet the disk's limit; the fsync-off "
        "pair shows the uploader against the bench client where the disk is not the limit.",
        "- Command: `python -m bench.integrity` (bench/integrity.py).",
        "",
        *_table(rows),
        "",
        "| comparison | ratio: median of the rounds' (min–max) | target |",
        "|---|---:|---:|",
        f"| part CRC32C ÷ no digests, P=4 | {ratio(rows, p4 + 'part CRC32C', p4 + 'no')} | – |",
        f"| part + whole-file CRC32C ÷ no digests, P=4 "
        f"| {ratio(rows, p4 + 'part + whole-file CRC32C', p4 + 'no')} | ≥ 0.85 |",
        f"| part SHA-1 ÷ no digests, P=4 | {ratio(rows, p4 + 'part SHA-1', p4 + 'no')} | – |",
        f"| `partway upload` (CRC32C) ÷ bench client, same digests "
        f"| {ratio(rows, up_crc + 'on', bc_crc + 'on')} | ≥ 0.90 |",
        f"| the same, fsync off | {ratio(rows, up_crc + 'off', bc_crc + 'off')} | – |",
        f"| `partway upload` (CRC32C) ÷ bench client with its process start too "
        f"| {process_ratio(rows, up_crc + 'on', bc_crc + 'on')} | – |",
        f"| `partway upload` (SHA-1) ÷ bench client, same digests "
        f"| {ratio(rows, up + 'part + whole-file SHA-1', bc + 'SHA-1')} | – |",
        f"| `partway upload` CRC32C ÷ `partway upload` SHA-1, fsync on "
        f"| {ratio(rows, up_crc + 'on', up + 'part + whole-file SHA-1')} | – |",
        "",
        "### Finish with a whole-file digest, by file size (fsync on, one upload each)",
        "",
        "| file | digest | finish latency | upload MB/s |",
        "|---:|---|---:|---:|",
        *(f"| {m} MiB | {n} | {s * 1000:.1f} ms | {v:.0f} |" for m, n, s, v in finishes),
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.integrity")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--size-mib", type=int, default=512)
    parser.add_argument("--finish-sizes", default="16,256,2048")
    parser.add_argument("--out", type=Path, help="default: docs/benchmarks.md (a full run)")
    parser.add_argument(
        "--only-uploader",
        action="store_true",
        help="only `partway upload` and the bench client with the same digests",
    )
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / ".work" / "integrity")
    args = parser.parse_args()
    args.peers, args.smoke, args.only_s3 = False, False, False
    args.stores, args.azure_size_mib, args.s3_large_part_mib = "", None, 0  # no store rows here
    bench = full.Bench(args)
    # Bytecode for partway's own modules, as an installed package has: with
    # PYTHONDONTWRITEBYTECODE set (as on this machine) every `partway upload` would otherwise
    # compile them again, ~50 ms of its start that no installed copy pays.
    compileall.compile_dir(ROOT / "src" / "partway", quiet=1)
    rows = [r for r in CLIENT_ROWS if not args.only_uploader or r[0].startswith("bench client")]
    try:
        for title, flags, fsync in rows:
            client_row(bench, title, flags, fsync)
        bench.uploader_row("crc32c")
        bench.uploader_row("sha1")
        bench.uploader_row("crc32c", fsync=False)
        bench.interleaved()
    finally:
        for queued in bench.pending:
            queued.server.stop()
    sizes = [] if args.only_uploader else [int(s) for s in args.finish_sizes.split(",")]
    text = report(bench, finish_latency(bench, sizes))
    out = args.out or (None if args.only_uploader else ROOT / "docs" / "benchmarks.md")
    if out is None:
        console.print(text)
        return
    replace_section(out, HEADING, text)
    console.print(
        f"wrote {out}; server CPU medians: "
        f"{[round(median(r.server_cpu_per_gib), 2) for r in bench.rows]}"
    )


if __name__ == "__main__":
    main()
