"""How steady is partway's ratio to the sink? (issue #14: an independent harness saw P=4 at
0.67–1.05 of the sink within an hour, and P=4 below P=1 in its low runs.)

Each round starts a fresh sink (+pwrite) and a fresh partway (fsync off, no digests), uploads
the same file at P=4 and P=1 to each in turn (order alternating by round), records MB/s and the
server's CPU per GiB, then stops both: a fresh process and a burst of new files every round,
as that harness did. The report is the ratio per round and its spread, with the VM's freed-page
reporting delay (the machine setting earlier sessions found behind low runs) stated.

    python -m bench.spread --rounds 8 [--size-mib 512] [--out docs/spread.md]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

from .measure import pre_touch, run_client, start, start_partway

ROOT = Path(__file__).resolve().parent.parent
REPORTING = Path("/sys/module/page_reporting/parameters/page_reporting_order")
MIN_FREE = Path("/sys/module/page_reporting/parameters/min_free_ms")


def reporting_delay() -> str:
    try:
        return f"{MIN_FREE.read_text().strip()} ms"
    except OSError:
        return "unknown"


def one(kind: str, work: Path, source: Path, streams: int) -> tuple[float, float]:
    """(MB/s, server CPU s/GiB) of one upload to a fresh server of `kind`."""
    target = work / kind
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    if kind == "sink":
        cmd = [sys.executable, "-m", "bench.sink", "--port", "{port}", "--dir", str(target)]
        server = start(cmd)
        protocol = "sink"
        extra: list[str] = []
    else:
        server, key = start_partway(target, fsync=False)
        protocol = "partway"
        extra = ["--key", key]
    try:
        pre_touch(256 * 1024 * 1024)
        cpu0 = server.cpu()
        result = run_client(protocol, server.url, source, "--parallel", str(streams), *extra)
        cpu = server.cpu() - cpu0
    finally:
        server.stop()
        shutil.rmtree(target, ignore_errors=True)
    gib = result["bytes"] / 2**30
    return result["bytes"] / result["seconds"] / 1e6, cpu / gib


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--size-mib", type=int, default=512)
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / ".work" / "spread")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    source = args.work / "source.bin"
    if not source.exists() or source.stat().st_size != args.size_mib << 20:
        with source.open("wb") as f:
            for _ in range(args.size_mib):
                f.write(os.urandom(1 << 20))
    rows: list[dict[str, float]] = []
    for n in range(args.rounds):
        order = ["sink", "partway"] if n % 2 == 0 else ["partway", "sink"]
        got: dict[str, float] = {}
        for kind in order:
            for streams in (4, 1):
                mbps, cpu = one(kind, args.work, source, streams)
                got[f"{kind} P={streams}"] = mbps
                got[f"{kind} P={streams} cpu"] = cpu
        got["ratio P=4"] = got["partway P=4"] / got["sink P=4"]
        got["ratio P=1"] = got["partway P=1"] / got["sink P=1"]
        rows.append(got)
        print(
            f"round {n + 1}: sink P=4 {got['sink P=4']:.0f}, partway P=4 {got['partway P=4']:.0f}"
            f" ({got['partway P=4 cpu']:.2f} s/GiB) → {got['ratio P=4']:.2f}; P=1"
            f" {got['sink P=1']:.0f} / {got['partway P=1']:.0f} → {got['ratio P=1']:.2f}",
            flush=True,
        )
    report = render(rows, args.size_mib)
    print(report)
    if args.out:
        args.out.write_text(report)


def render(rows: list[dict[str, float]], size_mib: int) -> str:
    def cell(key: str, digits: int = 0) -> str:
        values = [r[key] for r in rows]
        med = statistics.median(values)
        return f"{med:.{digits}f} ({min(values):.{digits}f}–{max(values):.{digits}f})"

    lines = [
        f"- {len(rows)} rounds, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
        f"{size_mib} MiB, fsync off, no digests, a fresh server per upload; freed pages "
        f"reported to the hypervisor after {reporting_delay()}",
        "",
        "| round | sink P=4 | partway P=4 | ratio P=4 | partway s/GiB | sink P=1 | partway P=1 "
        "| ratio P=1 |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n, r in enumerate(rows, 1):
        lines.append(
            f"| {n} | {r['sink P=4']:.0f} | {r['partway P=4']:.0f} | {r['ratio P=4']:.2f} | "
            f"{r['partway P=4 cpu']:.2f} | {r['sink P=1']:.0f} | {r['partway P=1']:.0f} | "
            f"{r['ratio P=1']:.2f} |"
        )
    lines.append(
        f"| median (min–max) | {cell('sink P=4')} | {cell('partway P=4')} | "
        f"{cell('ratio P=4', 2)} | {cell('partway P=4 cpu', 2)} | {cell('sink P=1')} | "
        f"{cell('partway P=1')} | {cell('ratio P=1', 2)} |"
    )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
