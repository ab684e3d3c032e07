"""Showing upload progress: plain lines, or JSON for scripts (the live bar for a terminal is
bar.py's: rich costs ~50 ms of every start)."""

from __future__ import annotations

import json
import sys
import time
from typing import IO, TYPE_CHECKING, Any

from .output import write_line

if TYPE_CHECKING:
    from .uploader import UploadProgress

MIB = 1024 * 1024


class LineProgress:
    """One plain line per file at most every `interval` seconds, and at the end."""

    def __init__(self, out: IO[str] | None = None, interval: float = 2.0) -> None:
        self._out = out or sys.stderr
        self._interval = interval
        self._last: dict[str, float] = {}
        self._started: dict[str, tuple[float, int]] = {}

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def __call__(self, p: UploadProgress) -> None:
        now = time.monotonic()
        began, base = self._started.setdefault(p.name, (now, p.done_bytes))
        last = self._last.get(p.name)
        if p.event != "done" and last is not None and now - last < self._interval:
            return
        self._last[p.name] = now
        elapsed = max(now - began, 1e-6)
        rate = (p.done_bytes - base) / elapsed
        left = p.total_bytes - p.done_bytes
        eta = f"{left / rate:.0f}s" if rate > 0 else "?"
        pct = 100.0 * p.done_bytes / p.total_bytes if p.total_bytes else 100.0
        print(
            f"{p.name}: {pct:5.1f}% {p.done_bytes / MIB:.1f}/{p.total_bytes / MIB:.1f} MiB "
            f"{rate / MIB:.1f} MiB/s ETA {eta} parts {p.parts_done}/{p.parts_total}",
            file=self._out,
            flush=True,
        )

    def message(self, text: str) -> None:
        print(text, file=self._out, flush=True)


class JsonProgress:
    """One JSON object per event on stdout, for scripts."""

    def __init__(self, out: IO[str] | None = None) -> None:
        self._out = out or sys.stdout

    def __enter__(self) -> JsonProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def __call__(self, p: UploadProgress) -> None:
        self.emit(
            {
                "event": p.event,
                "name": p.name,
                "session_id": p.session_id,
                "done_bytes": p.done_bytes,
                "total_bytes": p.total_bytes,
                "parts_done": p.parts_done,
                "parts_total": p.parts_total,
                "resumed_parts": p.resumed_parts,
                **p.detail,
            }
        )

    def emit(self, obj: dict[str, Any]) -> None:
        write_line(json.dumps(obj), self._out)

    def message(self, text: str) -> None:
        self.emit({"event": "message", "message": text})
