"""The resumable-upload front (issue #19): partway's tus endpoint next to the tus servers in the
bench, the same client and file, P=1; then tus-js-client (pinned by tests/tus-js, driven by
bench/tus_js.mjs) against partway and @tus/server: tus v1, `parallelUploads: 4` (concatenation)
and `protocol: 'ietf-draft-05'` (the IETF draft, interop version 6). A client/server pair that
cannot do it is a row too, marked failed with the answer it got.

python -m bench.fronts [--runs 5] [--size-mib 512]   → the "## tus front" section of
docs/benchmarks.md (the peers are those `bench/run` installs: run it once first). Rows run
interleaved (every row once a round); compare rows of one report only. The peers' file stores
do not fsync, so partway runs with fsync off here too.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from . import __main__ as full
from .measure import MIB, ROOT, TUS_NODE, Row, run_client, start, tus_node_command
from .report import FRONTS_HEADING, _table, machine, replace_section

HEADING = FRONTS_HEADING
console = full.console
TUS_ROW = "partway's tus endpoint (/uploads), P=1, fsync off"
TUS_JS = "tus-js-client 4.3.1 (node)"
# bench/tus_js.mjs's modes: what the row's name says about each.
JS_MODES = {
    "tus": "tus v1, P=1",
    "parallel": "parallelUploads: 4 (tus concatenation)",
    "draft": "protocol: 'ietf-draft-05' (interop version 6)",
}


def js_row_name(server: str, mode: str) -> str:
    return f"{TUS_JS} → {server}, {JS_MODES[mode]}"


def run_tus_js(
    endpoint: str, path: Path, name: str, mode: str, headers: dict[str, str]
) -> dict[str, Any]:
    """One upload by tus-js-client in node; {"failed": why} when the server refused it."""
    out = subprocess.run(
        ["node", str(ROOT / "bench" / "tus_js.mjs"), endpoint, str(path), name, mode],
        env={**os.environ, "BENCH_TUS_HEADERS": json.dumps(headers)},
        capture_output=True,
        text=True,
        timeout=900,
    )
    last = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""
    if out.returncode == 3 and last:
        failed: dict[str, Any] = json.loads(last)
        return failed
    if out.returncode != 0:
        raise RuntimeError(f"bench/tus_js.mjs {mode}: exit {out.returncode}: {out.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(last)
    return result


def apideck(key: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {key}",
        "x-apideck-app-id": "bench",
        "x-apideck-consumer-id": "bench",
    }


def file_id_named(base: str, key: str, name: str) -> str:
    """The id of the one file called `name` in the root folder (the bench deletes each after
    checking it, so the listing stays short)."""
    res = httpx.get(
        f"{base}/file-storage/files",
        params={"filter[folder_id]": "root", "limit": 200},
        headers=apideck(key),
    )
    res.raise_for_status()
    found = [f["id"] for f in res.json()["data"] if f["name"] == name]
    if len(found) != 1:
        raise RuntimeError(f"{len(found)} files called {name}")
    return str(found[0])


def partway_js_row(bench: full.Bench, mode: str) -> None:
    """tus-js-client against a partway server of the row's own."""
    row = Row(js_row_name("partway /uploads, fsync off", mode), "partway-js")
    server, key, _ = bench.partway_server(f"tus-js-{mode}", False)
    counter = iter(range(10**6))

    def once() -> dict[str, Any]:
        name = f"j{mode}{next(counter)}.bin"
        result = run_tus_js(f"{server.url}/uploads", bench.source, name, mode, apideck(key))
        return result if "failed" in result else {**result, "name": name}

    def check(result: dict[str, Any]) -> bool:
        return bench.stored_ok(server.url, key, file_id_named(server.url, key, result["name"]))

    bench.measured(row, server, once, check)


def tus_node_js_row(bench: full.Bench, mode: str) -> None:
    """tus-js-client against an @tus/server (with its file store) of the row's own."""
    store = bench.work / f"tus-node-js-{mode}"
    store.mkdir(parents=True, exist_ok=True)
    row = Row(js_row_name(TUS_NODE.split(" (")[0] + " (@tus/server)", mode), "peer-js")
    server = start(tus_node_command(store), log=bench.log)

    def once() -> dict[str, Any]:
        return run_tus_js(f"{server.url}/files", bench.source, "peer.bin", mode, {})

    bench.measured(row, server, once, peer_check(bench, store))


def peer_check(bench: full.Bench, store: Path) -> Callable[[dict[str, Any]], bool]:
    def check(result: dict[str, Any]) -> bool:
        stored = store / result["location"]
        ok = full.sha256_of(stored) == bench.expected
        for leftover in store.glob(result["location"] + "*"):
            leftover.unlink()
        return ok

    return check


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


def _ratio(a: Row | None, b: Row | None) -> str:
    if a is None or b is None or not a.mbps or not b.mbps:
        return "–"
    return f"{a.median / b.median:.2f}"


def report(bench: full.Bench) -> str:
    rows = bench.rows
    ours = next(r for r in rows if r.name == TUS_ROW)
    peers = [r for r in rows if r.group == "peer"]
    fastest = max(peers, key=lambda r: r.median) if peers else None
    named = {r.name: r for r in rows}
    js_ours = {m: named.get(js_row_name("partway /uploads, fsync off", m)) for m in JS_MODES}
    js_node = named.get(js_row_name(TUS_NODE.split(" (")[0] + " (@tus/server)", "tus"))
    lines = [
        f"{HEADING} (issue #19): partway's /uploads next to tus servers, same run",
        "",
        f"- Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; machine: {machine()}",
        f"- File: {bench.size // MIB} MiB of random bytes; bench/client.py's tus client (POST "
        "with Upload-Length, then one 8 MiB PATCH after another, sendfile); "
        f"{bench.runs} run(s) a row, interleaved; fsync off everywhere (the peers' file "
        "stores do not fsync). Stored bytes checked by SHA-256 (partway: through the Apideck "
        "API).",
        f"- {TUS_JS} rows: the client tests/tus-js pins, unmodified, in node "
        "(bench/tus_js.mjs), reading the file through `fs.createReadStream` with its default "
        "`chunkSize` (Infinity: one PATCH an upload, or a partial upload with "
        "`parallelUploads: 4`, which splits the file in 4 and ends with a `Upload-Concat: "
        "final` POST), no retries; timed in node from `start()` to `onSuccess`, client CPU "
        "from `process.cpuUsage()` (node's start-up excluded). Each row has a server of its "
        "own. A row the server refuses is kept, marked failed with the answer it got.",
        "- Command: `python -m bench.fronts` (bench/fronts.py).",
        "",
        *_table(rows),
        "",
        "| comparison | ratio | goal |",
        "|---|---:|---:|",
    ]
    if fastest is not None:
        lines.append(
            f"| partway's tus endpoint ÷ the faster peer ({fastest.name.split(',')[0]}) "
            f"| {ours.median / fastest.median:.2f} | ≥ 1.5 |"
        )
    lines += [
        f"| {TUS_JS}, tus v1 P=1: partway ÷ @tus/server | {_ratio(js_ours['tus'], js_node)} | – |",
        f"| {TUS_JS} → partway: parallelUploads: 4 ÷ P=1 "
        f"| {_ratio(js_ours['parallel'], js_ours['tus'])} | – |",
        f"| {TUS_JS} → partway: ietf-draft-05 ÷ tus v1 "
        f"| {_ratio(js_ours['draft'], js_ours['tus'])} | – |",
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
    args.stores, args.azure_size_mib, args.s3_large_part_mib = "", None, 0  # no store rows here
    if args.smoke:
        args.runs, args.size_mib = 1, 16
    bench = full.Bench(args)
    try:
        partway_tus_row(bench)
        for mode in JS_MODES:
            partway_js_row(bench, mode)
        bench.peer_rows()
        for mode in JS_MODES:
            tus_node_js_row(bench, mode)
        bench.interleaved()
    finally:
        for queued in bench.pending:
            queued.server.stop()
    replace_section(args.out, HEADING, report(bench))
    console.print(f"wrote {args.out}")
    # A peer may refuse an upload (a failed row); partway may not, nor may anyone store wrong bytes.
    bad = [
        r.name
        for r in bench.rows
        if r.verified == "MISMATCH" or (r.failed and r.group.startswith("partway"))
    ]
    if bad:
        sys.exit(f"failed or stored the wrong bytes: {', '.join(bad)}")


if __name__ == "__main__":
    main()
