"""The markdown report: machine, date, every row, the ratios the targets are judged by."""

from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from .client import PART
from .measure import MIB, Row, median, spread


@dataclass(frozen=True)
class Growth:
    size_mib: int
    finish_seconds: float
    peak_rss: int
    mbps: float


def machine() -> str:
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    disk = subprocess.run(["df", "-h", "."], capture_output=True, text=True).stdout.splitlines()[-1]
    return (
        f"{os.cpu_count()} × {cpu}, {mem:.0f} GiB RAM, Linux {platform.release()}, "
        f"Python {platform.python_version()}; disk: `{' '.join(disk.split())}`"
        + (f"; {reporting}" if (reporting := free_page_reporting()) else "")
    )


SLOW_HEADING = "## Many slow clients"
STORES_HEADING = "## Object stores"
STORE_GROUP = "object-store"
SPREAD_HEADING = "## Spread of the ratio"
COPY_HEADING = "## Folder copy"
INTEGRITY_HEADING = "## Integrity"
FRONTS_HEADING = "## tus front"


def replace_section(out: Path, heading: str, text: str) -> None:
    """Write `text` as the section of `out` that starts at the line `heading` (to the next `## `
    heading or the end), in place of the one there, or at the end."""
    old = out.read_text() if out.exists() else ""
    before, after = _split(old, heading)
    body = (before.rstrip("\n") + "\n\n" if before.strip() else "") + text.rstrip("\n") + "\n"
    if after:
        body += "\n" + after
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(body)


def _split(text: str, heading: str) -> tuple[str, str]:
    """`text` without the section under `heading`: what came before it, what came after it."""
    lines = text.splitlines(keepends=True)
    at = next((i for i, line in enumerate(lines) if line.startswith(heading)), None)
    if at is None:
        return text, ""
    end = next((i for i in range(at + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    return "".join(lines[:at]), "".join(lines[end:])


def kept_section(out: Path, heading: str) -> str:
    """The section under `heading` in `out` as it stands (empty if none)."""
    if not out.exists():
        return ""
    before, after = _split(out.read_text(), heading)
    whole = out.read_text()
    return whole[len(before) : len(whole) - len(after)]


REPORTING = Path("/sys/module/page_reporting/parameters/min_free_ms")


def free_page_reporting() -> str | None:
    """A VM that hands freed guest pages back to its host at once makes every reuse of them a
    host page fault (~8 µs per 4 KiB here): page-cache writes then cost up to 5× the CPU, at
    random. Measured rows depend on this setting, so the report states it."""
    try:
        delay = int(REPORTING.read_text())
    except (OSError, ValueError):
        return None
    return f"free pages reported to the hypervisor after {delay} ms (page_reporting min_free_ms)"


def _find(rows: list[Row], start: str) -> Row | None:
    return next((r for r in rows if r.name.startswith(start)), None)


def _having(rows: list[Row], *parts: str) -> Row | None:
    return next((r for r in rows if all(p in r.name for p in parts)), None)


LARGE_PARTS = " MiB parts"  # in the title of a row with parts larger than the default 8 MiB


def parts_label(part: int) -> str:
    """What a row's title says of its part size: nothing for the default 8 MiB."""
    return "" if part == PART else f", {part // MIB}{LARGE_PARTS}"


def _default_parts(rows: list[Row]) -> list[Row]:
    return [r for r in rows if LARGE_PARTS not in r.name]


def _large_parts(rows: list[Row]) -> list[Row]:
    return [r for r in rows if LARGE_PARTS in r.name]


def _ratio(a: Row | None, b: Row | None) -> str:
    if a is None or b is None or not b.median:
        return "–"
    return f"{a.median / b.median:.2f}"


def _table(rows: list[Row]) -> list[str]:
    lines = [
        "| row | MB/s median | MB/s spread | server peak RSS | server CPU s/GiB "
        "| client CPU s/GiB | stored bytes |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        rss = f"{r.peak_rss / MIB:.0f} MiB" if r.peak_rss else "–"
        server_cpu = f"{median(r.server_cpu_per_gib):.2f}" if r.server_cpu_per_gib else "–"
        client_cpu = f"{median(r.client_cpu_per_gib):.2f}" if r.client_cpu_per_gib else "–"
        mbps = f"{r.median:.0f}" if r.mbps else "–"
        lines.append(
            f"| {r.name} | {mbps} | {spread(r.mbps)} | {rss} | {server_cpu} | "
            f"{client_cpu} | {r.verified} |"
        )
    return lines


def write_report(
    out: Path,
    rows: list[Row],
    growth: list[Growth],
    trips: tuple[int, float],
    size: int,
    runs: int,
    smoke: bool,
) -> None:
    sink4 = _find(rows, "HTTP sink + pwrite, P=4")
    sink4_sha = _find(rows, "HTTP sink + pwrite + part SHA-1 checked, P=4")
    splice4 = _find(rows, "HTTP sink + splice(2) into the file, P=4")
    asgi4 = _find(rows, "HTTP sink + pwrite via ASGI receive, P=4")
    uploader = _find(rows, "partway's uploader")
    uploader_work = _find(rows, "bench client with the uploader's digests")
    plain_fsync = _find(rows, "partway, P=4, part SHA-1 off, fsync on")
    plain_nofsync = _find(rows, "partway, P=4, part SHA-1 off, fsync off")
    sha_fsync = _find(rows, "partway, P=4, part SHA-1 on, fsync on")
    sha_nofsync = _find(rows, "partway, P=4, part SHA-1 on, fsync off")
    p1 = _find(rows, "partway, P=1, part SHA-1 off, fsync on")
    p1_nofsync = _find(rows, "partway, P=1, part SHA-1 off, fsync off")
    peers = [r for r in rows if r.group == "peer"]
    best_peer = max(peers, key=lambda r: r.median) if peers else None
    best = best_peer.name if best_peer else "–"
    ratios = [
        ("partway P=4, SHA-1 off, fsync off ÷ sink+pwrite P=4", plain_nofsync, sink4, "≥ 0.80"),
        ("partway P=4, SHA-1 off, fsync on ÷ sink+pwrite P=4", plain_fsync, sink4, "(fsync)"),
        ("partway P=4, SHA-1 on, fsync off ÷ sink+pwrite P=4", sha_nofsync, sink4, "≥ 0.60"),
        ("partway P=4, SHA-1 on, fsync on ÷ sink+pwrite P=4", sha_fsync, sink4, "(fsync)"),
        (
            "the sink itself checking part SHA-1s ÷ sink+pwrite P=4 (what a 0.60 target leaves)",
            sink4_sha,
            sink4,
            "–",
        ),
        (
            "partway P=4, SHA-1 on, fsync off ÷ sink+pwrite checking part SHA-1s P=4",
            sha_nofsync,
            sink4_sha,
            "–",
        ),
        (
            "partway P=4, SHA-1 off, fsync off ÷ sink moving bodies with splice P=4",
            plain_nofsync,
            splice4,
            "–",
        ),
        (f"partway P=1, fsync on ÷ best peer ({best})", p1, best_peer, "≥ 1.5"),
        ("partway P=1, fsync off ÷ best peer", p1_nofsync, best_peer, "≥ 1.5"),
        (
            "partway P=4, SHA-1 off, fsync off ÷ sink via ASGI receive P=4",
            plain_nofsync,
            asgi4,
            "–",
        ),
        (
            "uploader P=4 ÷ the bench client doing the same digests",
            uploader,
            uploader_work,
            "–",
        ),
    ]
    lines = [
        "# partway benchmarks" + (" (smoke run: tiny sizes, not for comparison)" if smoke else ""),
        "",
        f"- Date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- Machine: {machine()}",
        f"- File: {size / MIB:.0f} MiB of random bytes, 8 MiB parts; {runs} run(s) a row, "
        "one server per row; the rows on local disk (sinks, partway, uploader, peers) run "
        "interleaved, every row once a round, so rows compared with each other meet the same "
        "machine weather (page-cache speed here drifts by tens of percent within minutes), and "
        "likewise the object-store rows (their own section); memory pre-touched before each "
        "run; every upload writes a new file (deleted after its run); client and server share "
        "the machine. MB/s is 10⁶ bytes a second. Compare rows of one report only.",
        "- Client: bench/client.py, hand-written HTTP/1.1 sending parts with sendfile(2), "
        "P threads with a connection each, part SHA-1s hashed from a mapping of the file; the "
        "same client for every row.",
        "- Sink (the ceiling): uvicorn + httptools + uvloop, each body read from the socket by "
        "one worker thread in 1 MiB blocks and written with pwrite (bench/sink.py); with part "
        "digests it SHA-1s each block and checks the sum. For reference, the same sink moving "
        "bodies socket → file with splice(2), as partway stores parts, and taking them "
        "through ASGI `receive`.",
        "- Command: `bench/run` (see bench/__main__.py).",
        "",
        "## Rows",
        "",
        *_table([r for r in rows if r.group != STORE_GROUP]),
        "",
        "## Ratios (medians of this run)",
        "",
        "| comparison | ratio | target |",
        "|---|---:|---:|",
        *[f"| {label} | {_ratio(a, b)} | {target} |" for label, a, b, target in ratios],
        "",
        "## Cost growth (partway, P=4, no digest, fsync on)",
        "",
        "| file | finish latency | server peak RSS | MB/s |",
        "|---:|---:|---:|---:|",
        *[
            f"| {g.size_mib} MiB | {g.finish_seconds * 1000:.1f} ms | "
            f"{g.peak_rss / MIB:.0f} MiB | {g.mbps:.0f} |"
            for g in growth
        ],
        "",
        f"{trips[0]} small sessions (create → one 5-byte part → finish), 4 client threads, "
        f"SQLite: **{trips[1]:.0f} round trips/s**.",
        "",
    ]
    # The spread (bench/spread.py), many-slow-clients (bench/slow.py), folder-copy
    # (bench/folder_copy.py), integrity (bench/integrity.py) and tus-front (bench/fronts.py)
    # sections are runs of their own: kept as they stand.
    headings = (SPREAD_HEADING, SLOW_HEADING, COPY_HEADING, INTEGRITY_HEADING, FRONTS_HEADING)
    kept = "".join(kept_section(out, heading) for heading in headings)
    stores = [r for r in rows if r.group == STORE_GROUP]
    kept = (object_store_section(stores, runs) + "\n" if stores else "") + kept
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + ("\n" + kept if kept else ""))


def object_store_section(rows: list[Row], runs: int) -> str:
    """The object-store rows (issue #20): each store alone, partway proxying to it and partway
    handing out direct part URLs, with the ratios between them."""
    large = _large_parts(rows)
    s3_alone_large = _find(large, "S3 (")
    s3_p4_large = _having(large, "partway on S3", "proxied, P=4", "SHA-1 off")
    large_label = s3_alone_large.name.rsplit(", ", 1)[1] if s3_alone_large else ""
    large_note = (
        f" (S3: also {large_label} in the two rows that say so: partway's sessions on S3 can "
        "be given that size with `default_part_size`)"
        if large_label
        else ""
    )
    rows = _default_parts(rows)
    s3_alone = _find(rows, "S3 (")
    s3_p4 = _having(rows, "partway on S3", "proxied, P=4", "SHA-1 off")
    s3_p4_sha = _having(rows, "partway on S3", "proxied, P=4", "SHA-1 on")
    s3_direct = _having(rows, "partway on S3", "direct parts, P=4")
    az_alone = _find(rows, "Azure (")
    az_p4 = _having(rows, "partway on Azure", "proxied, P=4", "SHA-1 off")
    az_p4_sha = _having(rows, "partway on Azure", "proxied, P=4", "SHA-1 on")
    az_direct = _having(rows, "partway on Azure", "direct parts, P=4")
    ratios = [
        (
            "partway on S3 proxied P=4, SHA-1 off ÷ the S3 store alone P=4",
            s3_p4,
            s3_alone,
            "≥ 0.85",
        ),
        (
            "partway on S3 proxied P=4, SHA-1 on ÷ the S3 store alone P=4",
            s3_p4_sha,
            s3_alone,
            "–",
        ),
        ("partway on S3 direct parts P=4 ÷ the S3 store alone P=4", s3_direct, s3_alone, "–"),
        ("partway on S3 direct parts P=4 ÷ proxied P=4, SHA-1 off", s3_direct, s3_p4, "–"),
        *(
            [
                (
                    f"partway on S3 proxied P=4, SHA-1 off ÷ the S3 store alone P=4, {large_label}",
                    s3_p4_large,
                    s3_alone_large,
                    "≥ 0.85",
                )
            ]
            if s3_alone_large
            else []
        ),
        (
            "partway on Azure proxied P=4, SHA-1 off ÷ Azurite alone P=4",
            az_p4,
            az_alone,
            "≥ 0.85",
        ),
        (
            "partway on Azure proxied P=4, SHA-1 on ÷ Azurite alone P=4",
            az_p4_sha,
            az_alone,
            "–",
        ),
        ("partway on Azure direct parts P=4 ÷ Azurite alone P=4", az_direct, az_alone, "–"),
        ("partway on Azure direct parts P=4 ÷ proxied P=4, SHA-1 off", az_direct, az_p4, "–"),
    ]
    sizes = [
        f"{round(r.bytes_each / MIB)} MiB ({store} rows)"
        for store, r in (("S3", s3_alone), ("Azure", az_alone))
        if r is not None and r.bytes_each
    ]
    lines = [
        f"{STORES_HEADING} (issue #20): partway on Ceph RGW and Azurite, same run",
        "",
        f"- Date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}; machine as above (2 cores "
        "shared with other sessions: compare rows of this section, of this run, only).",
        f"- File: {', '.join(sizes)} of random bytes, 8 MiB parts{large_note}, P=4 streams; "
        f"{runs} run(s) a row, the rows of one store interleaved (every row once a round); "
        "each partway row warmed by one 16 MiB upload first; every upload deleted after its "
        "run (RGW's garbage collected at once).",
        "- The store alone: the bench client (the same one, sendfile(2), one connection a "
        "stream) PUTting the parts straight to the store over presigned UploadPart / SAS Put "
        "Block URLs, then CompleteMultipartUpload / Put Block List. Proxied: the client PUTs "
        "the parts to partway, which streams each into UploadPart / Put Block. Direct: the "
        "client asks partway for the parts' URLs (`x-partway-upload-mode: direct`), PUTs the "
        "bytes straight to the store, then partway's direct finish (ListParts / the block "
        "list, complete, PostgreSQL).",
        "- Server CPU s/GiB: partway's process in the partway rows; the store's in the rows "
        "of the store alone (RGW: radosgw + the OSD holding the bytes; Azurite: its node "
        "process). Stored bytes: the stored object read back and its SHA-256 compared.",
        "",
        *_table(rows + large),
        "",
        "| comparison | ratio | target |",
        "|---|---:|---:|",
        *[f"| {label} | {_ratio(a, b)} | {target} |" for label, a, b, target in ratios],
        "",
        *_cpu_bound(rows, s3_alone, az_alone, large, s3_alone_large),
    ]
    return "\n".join(lines)


def _cpu_bound(
    rows: list[Row],
    s3_alone: Row | None,
    az_alone: Row | None,
    large: list[Row],
    s3_alone_large: Row | None,
) -> list[str]:
    """What the shared cores allow: the store, partway and the client run on the same two
    cores, so where they are all busy a row can move at most (cores ÷ its total CPU per GiB),
    and partway's ratio to the store alone cannot pass the ratio of the two totals."""

    def total(row: Row, own: float) -> float:
        return own + median(row.server_cpu_per_gib) + median(row.client_cpu_per_gib)

    lines = []
    for alone, compared in ((s3_alone, rows), (az_alone, rows), (s3_alone_large, large)):
        if alone is None or not alone.server_cpu_per_gib:
            continue
        alone_total = total(alone, 0.0)
        store = alone.name.split(" alone")[0]
        for row in compared:
            if row is alone or not row.store_cpu_per_gib or store.split(" (")[0] not in row.name:
                continue
            both = total(row, median(row.store_cpu_per_gib))
            lines.append(
                f"| {row.name} | {median(row.store_cpu_per_gib):.2f} | {both:.2f} "
                f"(alone: {alone_total:.2f}) | {alone_total / both:.2f} | {_ratio(row, alone)} |"
            )
    if not lines:
        return []
    return [
        "CPU per GiB of everything in a row (the store's own, measured in the partway rows "
        "too, + partway's + the client's): where the two cores are busy, partway's ratio to "
        "the store alone can reach at most the ratio of those totals.",
        "",
        "| row | the store's CPU s/GiB | store + partway + client CPU s/GiB | ratio if "
        "CPU-bound | ratio measured |",
        "|---|---:|---:|---:|---:|",
        *lines,
        "",
    ]


def write_object_stores(out: Path, rows: list[Row], runs: int) -> None:
    """Only the object-store section of `out`, in place (`bench --only-s3`)."""
    replace_section(out, STORES_HEADING, object_store_section(rows, runs))
