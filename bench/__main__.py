"""Run every benchmark row and write the markdown report.

bench/run              # the full run (512 MiB, 5 runs a row) → docs/benchmarks.md
bench/run --smoke      # tiny sizes, 1 run a row, so the bench cannot rot (CI runs this)
bench/run --slow       # many slow uploads at once (bench/slow.py), its own section of the report
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from tests.backends import new_database

from . import azure as bench_azure
from . import s3 as bench_s3
from .client import PART
from .measure import (
    MB,
    MIB,
    ROOT,
    TUS_NODE,
    Measured,
    Row,
    Server,
    Trial,
    pre_touch,
    run_client,
    start,
    start_partway,
    tus_node_command,
)
from .report import (
    REPORTING,
    Growth,
    free_page_reporting,
    parts_label,
    write_object_stores,
    write_report,
)

console = Console(stderr=True)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(8 * MIB):
            digest.update(block)
    return digest.hexdigest()


def partway_command() -> list[str]:
    """`partway` as a user runs it: the console script installed beside this interpreter (no
    runpy, as `python -m partway` has), else the module."""
    script = Path(sys.executable).parent / "partway"
    return [str(script)] if script.exists() else [sys.executable, "-m", "partway"]


def make_source(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    with path.open("wb") as f:
        left = size
        while left:
            block = os.urandom(min(8 * MIB, left))
            digest.update(block)
            f.write(block)
            left -= len(block)
    return digest.hexdigest()


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.runs: int = args.runs
        self.size: int = args.size_mib * MIB
        self.work: Path = args.work
        self.peers: bool = args.peers
        self.smoke: bool = args.smoke
        self.only_s3: bool = args.only_s3
        self.stores: list[str] = args.stores.split(",")
        self.azure_mib: int | None = args.azure_size_mib
        self.s3_large_part: int = args.s3_large_part_mib * MIB
        self.rows: list[Row] = []
        self.pending: list[Trial] = []
        self.log = self.work / "servers.log"
        shutil.rmtree(self.work, ignore_errors=True)
        self.work.mkdir(parents=True)
        self.source = self.work / "source.bin"
        self.expected = make_source(self.source, self.size)

    def row(self, row: Row) -> Row:
        """A row measured on the spot (no server)."""
        self.rows.append(row)
        console.print(f"[bold]{row.name}[/]: {row.median:.0f} MB/s")
        return row

    def measured(
        self,
        row: Row,
        server: Measured,
        once: Callable[[], dict[str, Any]],
        check: Callable[[dict[str, Any]], bool] | None,
        store: Measured | None = None,
    ) -> None:
        """Queue a row for the next `interleaved` round: its server stays up until then."""
        self.rows.append(row)
        self.pending.append(Trial(row, server, once, check, store))

    def interleaved(self) -> None:
        """Every queued row once per round, `runs` rounds: rows compared with each other meet the
        same machine weather (page-cache speed drifts by tens of percent within minutes)."""
        trials, self.pending = self.pending, []
        try:
            for run in range(1, self.runs + 1):
                # Each round starts one row later, so no row always follows the same one (a
                # row after a fast writer met its writeback: issue #22's CRC rows), and each
                # run starts with nothing of the last one left to write back.
                shift = (run - 1) % len(trials) if trials else 0
                for t in trials[shift:] + trials[:shift]:
                    os.sync()
                    pre_touch(self.size)
                    cpu0 = t.server.cpu()
                    store0 = t.store.cpu() if t.store is not None else 0.0
                    result = t.once()
                    if "failed" in result:  # a row whose client or server cannot do it
                        t.row.failed = str(result["failed"])
                        console.print(
                            f"round {run}/{self.runs} [bold]{t.row.name}[/]: failed, {t.row.failed}"
                        )
                        continue
                    store_cpu = t.store.cpu() - store0 if t.store is not None else None
                    t.row.add(result, t.server.cpu() - cpu0, store_cpu)
                    if t.check is not None:
                        t.ok = t.check(result) and t.ok
                    console.print(
                        f"round {run}/{self.runs} [bold]{t.row.name}[/]: {t.row.mbps[-1]:.0f} MB/s"
                    )
            for t in trials:
                t.row.peak_rss = t.server.peak_rss()
                if t.row.failed:
                    t.row.verified = f"failed: {t.row.failed}"
                elif t.check is not None:
                    t.row.verified = "SHA-256 ok" if t.ok else "MISMATCH"
        finally:
            for t in trials:
                t.server.stop()
        for t in trials:
            r = t.row
            console.print(
                f"[bold]{r.name}[/]: {r.median:.0f} MB/s (runs {[round(m) for m in r.mbps]}), "
                f"peak RSS {r.peak_rss / MIB:.0f} MiB, verified {r.verified}"
            )

    # ceilings

    def ceilings(self) -> None:
        data = self.source.read_bytes() if self.size <= 1024 * MIB else b""
        for algo in ("sha1", "sha256"):
            row = Row(f"{algo.upper()} hashing, one core", "ceiling")
            for _ in range(self.runs):
                began = time.perf_counter()
                h = hashlib.new(algo)
                for i in range(0, len(data), 8 * MIB):
                    h.update(data[i : i + 8 * MIB])
                row.mbps.append(len(data) / MB / (time.perf_counter() - began))
            self.row(row)
        for fsync in (False, True):
            row = Row(f"disk write, 8 MiB blocks, {'with' if fsync else 'no'} fsync", "ceiling")
            target = self.work / "disk.bin"
            for _ in range(self.runs):
                pre_touch(self.size)
                began = time.perf_counter()
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                for i in range(0, len(data), 8 * MIB):
                    os.write(fd, data[i : i + 8 * MIB])
                if fsync:
                    os.fsync(fd)
                os.close(fd)
                row.mbps.append(len(data) / MB / (time.perf_counter() - began))
                target.unlink()
            self.row(row)
        del data

    def sinks(self) -> None:
        for pwrite in (False, True):
            for streams in (1, 4):
                self.sink_row(pwrite, streams)
        # The ceiling for rows with part digests: the sink hashing each block and checking it.
        self.sink_row(True, 4, digests=True)
        # For reference: the same sink moving bodies with splice(2), as partway stores parts,
        # and taking them through ASGI `receive`.
        self.sink_row(True, 4, via="splice")
        for streams in (1, 4):
            self.sink_row(True, streams, via="receive")

    def sink_row(
        self, pwrite: bool, streams: int, via: str = "socket", digests: bool = False
    ) -> None:
        kind = "sink + pwrite" if pwrite else "sink, body discarded"
        if via == "splice":
            kind = "sink + splice(2) into the file"
        how = " via ASGI receive" if via == "receive" else ""
        checked = " + part SHA-1 checked" if digests else ""
        row = Row(
            f"HTTP {kind}{how}{checked}, P={streams}", "ceiling" if via == "socket" else "reference"
        )
        target = self.work / "sink"
        target.mkdir(exist_ok=True)
        cmd = [sys.executable, "-m", "bench.sink", "--port", "{port}", "--via", via]
        if pwrite:
            cmd += ["--dir", str(target)]
        server = start(cmd, log=self.log)
        extra = ["--digests"] if digests else []

        def once() -> dict[str, Any]:
            return run_client("sink", server.url, self.source, "--parallel", str(streams), *extra)

        def check(result: dict[str, Any]) -> bool:
            stored = target / result["upload"]
            ok = sha256_of(stored) == self.expected
            httpx.delete(f"{server.url}/sink", params={"upload": result["upload"]})
            stored.unlink()
            return ok

        self.measured(row, server, once, check if pwrite else None)

    # partway

    def partway_server(
        self, name: str, fsync: bool, extra: dict[str, str] | None = None
    ) -> tuple[Server, str, Path]:
        data = self.work / f"partway-{name}"
        server, key = start_partway(data, fsync, self.log, extra)
        return server, key, data

    def partway_row(
        self,
        streams: int,
        digests: bool,
        fsync: bool,
        s3: bench_s3.Store | None = None,
        direct: bool = False,
        part: int = PART,
    ) -> Row:
        """partway on local disk, or in front of the bench's S3 server `s3` (with `direct`: the
        client PUTs the parts straight into it, over the URLs partway signs; `part`: the part
        size its sessions hand out)."""
        name = f"P{streams}-{'sha1' if digests else 'plain'}-{'fsync' if fsync else 'nofsync'}"
        title = (
            f"partway, P={streams}, part SHA-1 {'on' if digests else 'off'}, "
            f"fsync {'on' if fsync else 'off'}"
        )
        extra = None
        protocol = "partway-direct" if direct else "partway"
        after = None
        if s3 is not None:
            kind = bench_s3.store_kind()
            name = f"s3-{name}"
            title = (
                f"partway on S3 ({kind}) + PostgreSQL, proxied, P={streams}, "
                f"part SHA-1 {'on' if digests else 'off'}"
            )
            if direct:
                name = f"s3-direct-P{streams}"
                title = f"partway on S3 ({kind}) + PostgreSQL, direct parts, P={streams}"
            name += f"-{part}"
            title += parts_label(part)
            extra = {
                "PARTWAY_DEFAULT_PART_SIZE": str(part),
                "PARTWAY_DATABASE_URL": new_database(),
                "PARTWAY_STORAGE": json.dumps({"s3": bench_s3.storage_url(s3.url, name)}),
                "PARTWAY_DEFAULT_SERVICE": "s3",
            }
            after = getattr(s3, "collect_garbage", None)
        return self.partway_trial(
            Row(title, "partway" if s3 is None else "object-store"),
            name,
            fsync,
            extra,
            protocol,
            streams,
            digests,
            after,
            s3,
        )

    def partway_trial(
        self,
        row: Row,
        name: str,
        fsync: bool,
        extra: dict[str, str] | None,
        protocol: str,
        streams: int,
        digests: bool,
        after: Callable[[], None] | None = None,
        store: Measured | None = None,
    ) -> Row:
        """Queue `row`: the bench client uploading through a partway server of its own; `after`
        runs once each upload is checked and deleted (outside the measured time); `store`: the
        object store behind it, whose CPU is measured too."""
        server, key, _ = self.partway_server(name, fsync, extra)
        counter = iter(range(10**6))
        if after is not None:
            self.warm_up(server.url, key, protocol, after)

        def once() -> dict[str, Any]:
            args = ["--parallel", str(streams), "--key", key, "--name", f"f{next(counter)}.bin"]
            return run_client(
                protocol, server.url, self.source, *args, *(["--digests"] if digests else [])
            )

        def check(result: dict[str, Any]) -> bool:
            ok = self.stored_ok(server.url, key, result["file_id"])
            if after is not None:
                after()
            return ok

        self.measured(row, server, once, check, store)
        return row

    def warm_up(self, base: str, key: str, protocol: str, after: Callable[[], None] | None) -> None:
        """One small upload before the measured ones, as the store itself was warmed up: a
        server's first upload to an object store pays for opening its clients (botocore loads
        its S3 model), its PostgreSQL pool and first imports, ~1 CPU s that a running service
        paid long ago."""
        warm = self.work / "warm-up.bin"
        if not warm.exists():
            make_source(warm, 2 * PART)
        args = ["--parallel", "4", "--key", key, "--name", "warm-up.bin"]
        result = run_client(protocol, base, warm, *args)
        headers = {"Authorization": f"Bearer {key}", "x-apideck-app-id": "bench"}
        headers["x-apideck-consumer-id"] = "bench"
        url = f"{base}/file-storage/files/{result['file_id']}"
        httpx.delete(url, headers=headers).raise_for_status()
        if after is not None:
            after()

    def stored_ok(self, base: str, key: str, file_id: str) -> bool:
        """The stored file's SHA-256 equals the source's; then the file is deleted."""
        headers = {"Authorization": f"Bearer {key}", "x-apideck-app-id": "bench"}
        headers["x-apideck-consumer-id"] = "bench"
        digest = hashlib.sha256()
        url = f"{base}/file-storage/files/{file_id}"
        with httpx.stream("GET", url + "/download", headers=headers, timeout=300) as res:
            for chunk in res.iter_bytes(8 * MIB):
                digest.update(chunk)
        httpx.delete(url, headers=headers).raise_for_status()
        return digest.hexdigest() == self.expected

    # S3

    def s3_rows(self) -> None:
        """The store alone (the same client, parts straight into it), then partway in front of
        the same store: proxied (part SHA-1s off and on) and with direct parts; then the store
        alone and partway proxied again with larger parts (`--s3-large-part-mib`)."""
        store = bench_s3.start_store(self.work, self.log)
        try:
            self.s3_alone_row(store, PART)
            for digests in (False, True):
                self.partway_row(4, digests, False, s3=store)
            self.partway_row(4, False, False, s3=store, direct=True)
            if self.s3_large_part:
                self.s3_alone_row(store, self.s3_large_part)
                self.partway_row(4, False, False, s3=store, part=self.s3_large_part)
            self.interleaved()
        finally:
            store.stop()

    def s3_alone_row(self, store: bench_s3.Store, part: int) -> None:
        """Queue the row of the store alone: the bench client PUTting `part`-sized parts
        straight into it over presigned UploadPart URLs."""
        row = Row(
            f"S3 ({bench_s3.store_kind()}) alone: presigned UploadPart P=4 + complete"
            + parts_label(part),
            "object-store",
        )
        counter = iter(range(10**6))
        plan = self.work / f"s3-plan-{part}.json"

        def once() -> dict[str, Any]:
            key = f"direct-{part}-{next(counter)}"
            bench_s3.presigned_plan(store.url, key, self.size, plan, part)
            args = ["--parallel", "4", "--key", str(plan)]
            return {"key": key, **run_client("s3", store.url, self.source, *args)}

        def check(result: dict[str, Any]) -> bool:
            ok = bench_s3.hash_and_delete(store.url, result["key"]) == self.expected
            if isinstance(store, bench_s3.RgwStore):
                store.collect_garbage()
            return ok

        self.measured(row, store, once, check)

    def azure_rows(self) -> None:
        """Azurite alone (blocks straight into it), then partway in front of it: proxied, and
        with direct parts."""
        if not bench_azure.available():
            console.print("[yellow]no Azurite (tests/azurite: npm ci): Azure rows skipped[/]")
            return
        store = bench_azure.start_azurite(self.log)
        # Azurite keeps deleted blobs' bytes in memory until its own collection runs: a file of
        # its own size keeps a run under the memory cap scripts/services gives it.
        kept = self.source, self.expected, self.size
        if self.azure_mib and self.azure_mib * MIB < self.size:
            self.size = self.azure_mib * MIB
            self.source = self.work / "azure-source.bin"
            self.expected = make_source(self.source, self.size)
        row = Row("Azure (Azurite) alone: SAS Put Block P=4 + Put Block List", "object-store")
        counter = iter(range(10**6))
        plan = self.work / "azure-plan.json"

        def once() -> dict[str, Any]:
            key = f"direct-{next(counter)}"
            bench_azure.block_plan(store, key, self.size, plan)
            args = ["--parallel", "4", "--key", str(plan)]
            return {"key": key, **run_client("azure", store.url, self.source, *args)}

        def check(result: dict[str, Any]) -> bool:
            data = bench_azure.read_and_delete(store, bench_azure.result_key(result))
            return hashlib.sha256(data).hexdigest() == self.expected

        env = {"AZURE_STORAGE_CONNECTION_STRING": bench_azure.connection_string(store)}
        try:
            self.measured(row, store, once, check)
            for title, protocol, digests in (
                (
                    "partway on Azure (Azurite) + PostgreSQL, proxied, P=4, part SHA-1 off",
                    "partway",
                    False,
                ),
                (
                    "partway on Azure (Azurite) + PostgreSQL, proxied, P=4, part SHA-1 on",
                    "partway",
                    True,
                ),
                (
                    "partway on Azure (Azurite) + PostgreSQL, direct parts, P=4",
                    "partway-direct",
                    False,
                ),
            ):
                name = f"azure-{protocol}-{'sha1' if digests else 'plain'}"
                extra = {
                    **env,
                    "PARTWAY_DATABASE_URL": new_database(),
                    "PARTWAY_STORAGE": json.dumps({"azure": bench_azure.storage_url(name)}),
                    "PARTWAY_DEFAULT_SERVICE": "azure",
                }
                self.partway_trial(
                    Row(title, "object-store"),
                    name,
                    False,
                    extra,
                    protocol,
                    4,
                    digests,
                    lambda: None,
                    store,
                )
            self.interleaved()
        finally:
            store.stop()
            self.source, self.expected, self.size = kept

    def uploader_work_row(self) -> None:
        """The bench client doing the uploader's hashing (part SHA-1s, and the whole file's SHA-1
        sent at finish, which the server then checks): what the uploader row is judged against."""
        row = Row(
            "bench client with the uploader's digests (part + whole-file SHA-1), P=4, fsync on",
            "partway",
        )
        server, key, _ = self.partway_server("uploader-work", True)
        counter = iter(range(10**6))

        def once() -> dict[str, Any]:
            args = ["--parallel", "4", "--key", key, "--name", f"w{next(counter)}.bin"]
            return run_client(
                "partway", server.url, self.source, *args, "--digests", "--whole-digest"
            )

        self.measured(row, server, once, lambda r: self.stored_ok(server.url, key, r["file_id"]))

    def uploader_row(self, digest: str = "sha1", fsync: bool = True) -> None:
        """partway's own uploader as the client: its CPU per GiB (process start included)."""
        what = {"sha1": "part + whole-file SHA-1", "crc32c": "part + whole-file CRC32C"}
        row = Row(
            "partway's uploader (`partway upload`, process start included), P=4, "
            f"{what.get(digest, digest)}, fsync {'on' if fsync else 'off'}",
            "partway",
        )
        server, key, _ = self.partway_server(f"uploader-{digest}-{fsync}", fsync)
        env = {
            **os.environ,
            "PARTWAY_SERVER": server.url,
            "PARTWAY_API_KEY": key,
            "PARTWAY_APP_ID": "bench",
            "PARTWAY_CONSUMER_ID": "bench",
        }
        counter = iter(range(10**6))

        def once() -> dict[str, Any]:
            link = self.work / f"uploader-{next(counter)}.bin"
            link.symlink_to(self.source)
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            began = time.perf_counter()
            out = subprocess.run(
                [
                    *partway_command(),
                    "upload",
                    str(link),
                    "--json",
                    "--parallel",
                    "4",
                    "--state-dir",
                    str(self.work / "uploader-state"),
                    "--digest",
                    digest,
                ],
                env=env,
                check=True,
                capture_output=True,
                text=True,
            )
            seconds = time.perf_counter() - began
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            link.unlink()
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            file = json.loads(out.stdout.splitlines()[-1])["file"]
            return {
                "seconds": seconds,
                "client_cpu": cpu,
                "bytes": self.size,
                "file_id": file["id"],
            }

        self.measured(row, server, once, lambda r: self.stored_ok(server.url, key, r["file_id"]))

    # peers

    def peer_row(self, name: str, cmd: list[str], store: Path) -> None:
        row = Row(f"{name}, P=1", "peer")
        store.mkdir(parents=True, exist_ok=True)
        server = start(cmd, log=self.log)

        def once() -> dict[str, Any]:
            return run_client("tus", server.url, self.source)

        def check(result: dict[str, Any]) -> bool:
            stored = store / result["location"]
            ok = sha256_of(stored) == self.expected
            for leftover in store.glob(result["location"] + "*"):
                leftover.unlink()
            return ok

        self.measured(row, server, once, check)

    def peer_rows(self) -> None:
        store = self.work / "tus-node"
        self.peer_row(TUS_NODE, tus_node_command(store), store)
        python = ROOT / "bench" / ".peers-venv" / "bin" / "python"
        self.peer_row(
            "tuspyserver 4.4.3 on uvicorn",
            [
                str(python),
                str(ROOT / "bench" / "peers" / "tuspy_server.py"),
                "{port}",
                str(self.work / "tuspy"),
            ],
            self.work / "tuspy",
        )

    # cost growth

    def growth(self) -> list[Growth]:
        sizes = [1, 4, 16] if self.smoke else [16, 256, 2048]
        found = []
        for mib in sizes:
            path = self.work / f"growth-{mib}.bin"
            make_source(path, mib * MIB)
            server, key, _ = self.partway_server(f"growth-{mib}", True)
            try:
                result = run_client("partway", server.url, path, "--parallel", "4", "--key", key)
                found.append(
                    Growth(
                        mib,
                        result["finish_seconds"],
                        server.peak_rss(),
                        result["bytes"] / MB / result["seconds"],
                    )
                )
            finally:
                server.stop()
                path.unlink()
            console.print(
                f"growth {mib} MiB: finish {found[-1].finish_seconds * 1000:.1f} ms, "
                f"peak RSS {found[-1].peak_rss / MIB:.0f} MiB"
            )
        return found

    def round_trips(self) -> tuple[int, float]:
        count = 50 if self.smoke else 1000
        server, key, _ = self.partway_server("roundtrips", True)
        headers = {
            "Authorization": f"Bearer {key}",
            "x-apideck-app-id": "bench",
            "x-apideck-consumer-id": "bench",
        }

        local = threading.local()

        def one(n: int) -> None:
            if not hasattr(local, "client"):
                local.client = httpx.Client(base_url=server.url, headers=headers, timeout=60)
            c = local.client
            body = {"name": f"small-{n}.txt", "parent_folder_id": "root", "size": 5}
            sid = c.post("/file-storage/upload-sessions", json=body).json()["data"]["id"]
            c.put(
                f"/file-storage/upload-sessions/{sid}", params={"part_number": 0}, content=b"hello"
            ).raise_for_status()
            c.post(f"/file-storage/upload-sessions/{sid}/finish").raise_for_status()

        try:
            began = time.perf_counter()
            with ThreadPoolExecutor(4) as pool:
                list(pool.map(one, range(count)))
            rate = count / (time.perf_counter() - began)
        finally:
            server.stop()
        console.print(f"{count} create→part→finish round trips: {rate:.0f}/s")
        return count, rate

    def run(self, out: Path) -> None:
        if self.only_s3:
            if "s3" in self.stores:
                self.s3_rows()
            if "azure" in self.stores:
                self.azure_rows()
            write_object_stores(out, self.rows, self.runs)
            console.print(f"wrote {out}")
            return
        self.ceilings()
        try:
            # One interleaved group: every row on local disk, the peers and the sinks they are
            # compared with.
            self.sinks()
            for fsync in (True, False):
                for streams in (1, 4):
                    for digests in (False, True):
                        self.partway_row(streams, digests, fsync)
            self.uploader_work_row()
            self.uploader_row("sha1")
            self.uploader_row("crc32c")
            if self.peers:
                self.peer_rows()
            self.interleaved()
            self.s3_rows()
            self.azure_rows()
        finally:
            for queued in self.pending:  # servers of rows that never ran (a failure above)
                queued.server.stop()
        growth = self.growth()
        trips = self.round_trips()
        write_report(out, self.rows, growth, trips, self.size, self.runs, self.smoke)
        console.print(f"wrote {out}")


def main() -> None:
    if "--slow" in sys.argv[1:]:
        from . import slow

        slow.main([a for a in sys.argv[1:] if a != "--slow"])
        return
    parser = argparse.ArgumentParser(prog="bench")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one run a row")
    parser.add_argument("--runs", type=int)
    parser.add_argument("--size-mib", type=int)
    parser.add_argument("--no-peers", dest="peers", action="store_false")
    parser.add_argument("--out", type=Path)
    parser.add_argument(
        "--only-s3", action="store_true", help="only the object-store rows (S3, Azure)"
    )
    parser.add_argument(
        "--stores", default="s3,azure", help="with --only-s3: which object stores (s3,azure)"
    )
    parser.add_argument(
        "--azure-size-mib", type=int, help="a smaller file for the Azure rows (Azurite's memory)"
    )
    parser.add_argument(
        "--s3-large-part-mib",
        type=int,
        default=32,
        help="S3: also the store alone and partway proxied with parts this large (0: not)",
    )
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / ".work")
    args = parser.parse_args()
    args.runs = args.runs or (1 if args.smoke else 5)
    args.size_mib = args.size_mib or (16 if args.smoke else 512)
    out = args.out or (
        args.work.parent / "smoke.md" if args.smoke else ROOT / "docs" / "benchmarks.md"
    )
    if (reporting := free_page_reporting()) and "after 0 ms" in reporting:
        console.print(
            "[yellow]warning:[/] this VM returns freed pages to its host at once; re-using them "
            "costs host page faults that strike rows at random. For steadier figures, as root: "
            f"echo 10000 > {REPORTING}"
        )
    bench = Bench(args)
    bench.run(out)
    failed = [r.name for r in bench.rows if r.verified == "MISMATCH"]
    if failed:
        sys.exit(f"stored bytes did not match the source in: {', '.join(failed)}")


if __name__ == "__main__":
    main()
