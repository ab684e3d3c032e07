"""The many-slow-clients report (bench/slow.py): one table per N, partway and @tus/server side by
side, each measure judged against issue #14's targets, and the section's preamble saying how the
rows were made."""

from __future__ import annotations

import argparse
import math
from typing import Any

from .measure import GIB, KIB, MIB, TUS_NODE
from .report import SLOW_HEADING

P99_TARGET = 0.100
RSS_TARGET = 400 * MIB


def num(value: float, spec: str = ".0f") -> str:
    return "–" if math.isnan(value) else format(value, spec)


def ms(seconds: float) -> str:
    if math.isnan(seconds):
        return "–"
    return f"{seconds * 1000:.1f} ms" if seconds < 0.01 else f"{seconds * 1000:.0f} ms"


def fmt_failures(r: dict[str, Any]) -> str:
    if not r["failures"]:
        return "none"
    return ", ".join(f"{v} × {k}" for k, v in sorted(r["failures"].items(), key=lambda x: -x[1]))


def fmt_idle(r: dict[str, Any]) -> str:
    idle = r["idle"]
    if not idle:
        return "–"
    text = f"{idle['opened']}/{idle['asked']} opened"
    if idle["open_failures"]:
        text += f" (failed: {', '.join(f'{v} × {k}' for k, v in idle['open_failures'].items())})"
    if idle["closed_by_server"]:
        life = idle["median_lifetime"]
        text += f"; {idle['closed_by_server']} closed by the server (median after {life:.0f} s)"
    if idle["reopened"]:
        text += f"; {idle['reopened']} reopened"
    return text + f"; {idle['open_at_end']} open at the end"


def fmt_latency(r: dict[str, Any]) -> str:
    lat = r["latency"]
    text = f"{ms(lat['p50'])} / {ms(lat['p99'])} / {ms(lat['max'])}"
    rounds = lat.get("p99_rounds", [])
    if len(rounds) > 1:
        text += f" (p99 by round: {', '.join(ms(p) for p in rounds)})"
    return text


def fmt_probe(r: dict[str, Any]) -> str:
    lat = r["latency"]
    errors = sum(lat["errors"].values())
    text = f"{lat['count']}"
    if errors:
        text += f", {errors} failed: " + ", ".join(f"{v} × {k}" for k, v in lat["errors"].items())
    return text


def mark(ok: bool | None) -> str:
    return "" if ok is None else (" ✓" if ok else " ✗")


# Measured quantities (MB/s, latency, RSS, CPU) count as no worse within this much; threads and
# descriptors are counted, and compared as they are.
SLACK = 0.05


def table(rows: list[dict[str, Any]], all_rows: list[dict[str, Any]]) -> list[str]:
    """One N: partway and the peer side by side; partway's targets marked met (✓) or not (✗)."""
    ours = next((r for r in rows if r["kind"] == "partway"), None)
    peer = next((r for r in rows if r["kind"] == "tus"), None)
    cols = [r for r in (ours, peer) if r is not None]

    def ours_ok(test: Any) -> str:
        return mark(None if ours is None else bool(test(ours)))

    def no_worse(get: Any, higher_better: bool = False, slack: float = SLACK) -> str:
        if ours is None or peer is None:
            return ""
        a, b = get(ours), get(peer)
        ok = a >= b * (1 - slack) if higher_better else a <= b * (1 + slack)
        return ", no worse than the peer" + mark(bool(ok))

    def threads_bounded(r: dict[str, Any]) -> bool | None:
        """Peak threads within the most the server's configuration lets it run (its
        partway_threads_limit), which does not depend on N."""
        limit = r.get("threads_limit")
        return None if limit is None else r["threads"] <= limit

    def p99(r: dict[str, Any]) -> float:
        return float(r["latency"]["p99"])

    measures: list[tuple[str, Any, str]] = [
        (
            "uploads complete, bytes verified",
            lambda r: f"{r['completed']}/{r['n'] * r.get('rounds', 1)}",
            "all" + ours_ok(lambda r: r["completed"] == r["n"] * r.get("rounds", 1)),
        ),
        ("failures (stage: why)", fmt_failures, ""),
        ("load phase (first start → last end)", lambda r: f"{r['seconds']:.0f} s", ""),
        (
            "aggregate MB/s: whole load phase / best 5 s",
            lambda r: f"{num(r['aggregate_mbps'])} / {num(r['peak_mbps'])}",
            no_worse(lambda r: r["aggregate_mbps"], higher_better=True).lstrip(", "),
        ),
        (
            "uploads at ≥ 90 % of their paced rate (median ratio)",
            lambda r: f"{num(r['paced_90'], '.0%')} ({num(r['paced_median'], '.2f')})",
            "",
        ),
        (
            "API latency p50 / p99 / max",
            fmt_latency,
            "p99 < 100 ms" + ours_ok(lambda r: p99(r) < P99_TARGET) + no_worse(p99),
        ),
        ("probe requests", fmt_probe, ""),
        (
            "the uploads' own connect / create, p50 / p99",
            lambda r: (
                f"{ms(r['upload_connect']['p50'])} / {ms(r['upload_connect']['p99'])}; "
                f"{ms(r['upload_create']['p50'])} / {ms(r['upload_create']['p99'])}"
            ),
            "",
        ),
        (
            "server peak threads",
            lambda r: (
                f"{r['threads']}"
                + (f" (at most {r['threads_limit']})" if r.get("threads_limit") else "")
            ),
            "bounded by configuration (partway_threads_limit), not by N"
            + (mark(threads_bounded(ours)) if ours else "")
            + no_worse(lambda r: r["threads"], slack=0),
        ),
        (
            "server peak RSS",
            lambda r: f"{r['rss'] / MIB:.0f} MiB",
            "< 400 MiB" + ours_ok(lambda r: r["rss"] < RSS_TARGET) + no_worse(lambda r: r["rss"]),
        ),
        (
            "server peak open descriptors",
            lambda r: f"{r['fds']}",
            no_worse(lambda r: r["fds"], slack=0).lstrip(", "),
        ),
        (
            "server CPU s/GiB",
            lambda r: num(r["server_cpu_per_gib"], ".2f"),
            no_worse(lambda r: r["server_cpu_per_gib"]).lstrip(", "),
        ),
        (
            "client CPU s/GiB (all upload workers)",
            lambda r: num(r["client_cpu_per_gib"], ".2f"),
            "",
        ),
        ("idle keep-alive connections", fmt_idle, ""),
        (
            "the rest of the machine during the load: other processes and kernel threads "
            "(load average as it began)",
            lambda r: f"{num(r['others_cores'], '.1f')} cores ({num(r['load_average'], '.1f')})",
            "",
        ),
        (
            "server's cyclic collector: passes gen 0 / 1 / 2; those over 50 ms; time in all; "
            "objects freed",
            fmt_gc,
            "",
        ),
        (
            "client event-loop lag p99: upload workers / probe",
            lambda r: f"{ms(r['loop_lag']['uploads'])} / {ms(r['loop_lag']['probe'])}",
            "",
        ),
    ]
    lines = [
        "| measure | " + " | ".join(r["server"] for r in cols) + " | target (partway) |",
        "|---|" + "---:|" * len(cols) + "---|",
    ]
    for label, show, target in measures:
        lines.append(f"| {label} | " + " | ".join(show(r) for r in cols) + f" | {target} |")
    return lines


def fmt_gc(r: dict[str, Any]) -> str:
    """partway's own figures (partway_metrics); the peer exports none."""
    gc = r.get("gc") or {}
    if not gc:
        return "–"
    passes = [int(gc.get(f"passes_{g}", 0)) for g in "012"]
    over = sum(passes) - int(gc.get("under_50ms", 0))
    return (
        f"{' / '.join(map(str, passes))}; {over}; {gc.get('seconds', 0) * 1000:.0f} ms; "
        f"{int(gc.get('freed', 0)):,}"
    )


def section(rows: list[dict[str, Any]]) -> str:
    args = argparse.Namespace(**rows[0]["settings"])
    rounds = getattr(args, "rounds", 1)  # rows written before rounds existed had one
    ns = sorted({r["n"] for r in rows})
    rates = f"{args.rate[0]:g}–{args.rate[1]:g} MB/s"
    lines = [
        SLOW_HEADING + (" (smoke run: tiny sizes, not for comparison)" if args.smoke else ""),
        "",
        f"- Date: {args.date}; machine: {args.machine}",
        f"- Workload: N uploads at once, each on a connection of its own, paced by the bench "
        f"client to a rate of its own drawn log-uniform over {rates} (seed {args.seed}; the same "
        "N draw the same rates and sizes for both servers): a token bucket, 16–64 KiB writes "
        f"(~10 ms worth), no catching up after a stall, a {256} KiB socket send buffer; starts "
        f"spread over the first {args.ramp:g} s; each upload has {args.deadline:g} s to "
        "complete. partway: create, get the part size, PUT each part, finish; @tus/server: "
        "POST with Upload-Length, a PATCH per 8 MiB. Afterwards (outside the measured window) "
        "each completed upload's stored bytes are checked against its source slice by SHA-256 "
        "(partway: downloaded; @tus/server: its stored file). Upload sizes are uniform in the "
        "range given per N, chosen to keep a row to a few GiB on this shared disk.",
        "- Idle: before the uploads start, the idle keep-alive connections (their number heads "
        "each table) are opened; each sends one "
        "cheap request (partway: GET /healthz; @tus/server: OPTIONS /files) and then stays idle "
        + (
            "and is reopened whenever the server closes it"
            if args.reopen_idle
            else "(not reopened when the server closes it: both servers' keep-alive timeout is "
            "5 s, their default)"
        )
        + ".",
        f"- API latency: {args.probe_rate:g} operations a second during the load, open-loop, on a "
        "tenant of their own, each request timed (a request cut off by the end of the load "
        "counts with the time it had waited): get a session / create + abort / a 1 KiB "
        "create + part + finish (@tus/server: HEAD an upload / POST + DELETE / POST + 1 KiB "
        "PATCH). partway takes requests in turns by tenant (fair_share.py), so the probe's "
        "calls do not wait behind the uploads' tenant; the uploads' own calls do, and their "
        "creates are shown in a row of their own. @tus/server has no tenants.",
        "- Server: sampled every 0.5 s (psutil), peaks shown; RSS is the kernel's high-water "
        "mark; CPU s/GiB is the server's CPU from the start of the uploads to the last one's "
        "end, per GiB of verified uploads. partway: "
        + ("fsync on" if args.fsync else "fsync off")
        + ", SQLite, local disk, default settings; "
        f"@tus/server: {TUS_NODE}, as its README sets it up (its file store does not fsync).",
        f"- Clients: bench/slowclient.py, asyncio on uvloop, {args.workers} upload process(es) "
        "plus one for the idle connections and the probe, on the same 2 cores as the server.",
        *(
            [
                f"- Rounds: {rounds} per N, the servers taking turns (partway, then the peer, "
                "then partway again). Each table merges a server's rounds (bench/slow_rounds.py): "
                "API latency pooled over every probe request of every round, with each round's "
                "own p99 beside it (one round's p99 is the ~4th-slowest of ~400 requests and "
                "moved by 2× between rounds of the same code); peaks (threads, RSS, descriptors, "
                "loop lag) are the worst round's; rates, the load phase and CPU per GiB the "
                "median round's; uploads, failures, idle connections and collector passes "
                "summed."
            ]
            if rounds > 1
            else []
        ),
        "- Targets are partway's (issue #14), judged on its own row: ✓ met, ✗ not; \"no worse "
        'than the peer" allows 5 % for measured quantities (MB/s, latency, RSS, CPU) and none '
        "for counted ones (threads, descriptors).",
        "- Command: `bench/run --slow"
        + (" --smoke" if args.smoke else "")
        + "` (bench/slow.py); raw figures per row in bench/.work/slow/.",
        "",
    ]
    for n in ns:
        group = [r for r in rows if r["n"] == n]
        lo, hi = group[0]["sizes"]
        total = group[0]["planned_bytes"]
        lines += [
            f"### N = {n:,}, {args.idle:,} idle connections, sizes "
            f"{size_text(lo)}–{size_text(hi)} ({size_text(total)} in all), "
            f"paced rates summing to {group[0]['demanded_mbps']:,.0f} MB/s",
            "",
            *table(group, rows),
            "",
        ]
        best = max((r["peak_mbps"] for r in group if not math.isnan(r["peak_mbps"])), default=0)
        demanded = group[0]["demanded_mbps"]
        if best and demanded > 2 * best:
            lines += [
                f"The paced rates sum to {demanded:,.0f} MB/s, {demanded / best:.0f}× the most "
                f"either server took in over any 5 s here ({best:,.0f} MB/s): at this N the mix "
                "overloads the machine (2 cores shared by servers, clients and other work), the "
                "uploads run at a fraction of their paced rates, and every figure above is one "
                "of overload. For slow clients without overload, lower the mix with `--rate` "
                "(its sum grows with N) and the sizes with `--size-mib` (the slowest upload "
                "must still fit its deadline).",
                "",
            ]
    return "\n".join(lines)


def size_text(n: int) -> str:
    if n >= GIB:
        return f"{n / GIB:.1f} GiB"
    return f"{n / MIB:.3g} MiB" if n >= MIB else f"{n / KIB:.3g} KiB"
