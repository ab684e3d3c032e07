"""One unit family in the uploader's output: sizes in MiB and rates in MiB/s (rich's own speed
column says MB/s beside MiB sizes)."""

from __future__ import annotations

import io
import time

from rich.console import Console

from partway.client.bar import BarProgress
from partway.client.uploader import UploadProgress

MIB = 1024 * 1024


def test_bar_speaks_mib_and_mib_per_second() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=160, color_system=None)
    with BarProgress(console) as bar:
        progress = UploadProgress(name="f.bin", total_bytes=64 * MIB, parts_total=8)
        bar(progress)
        time.sleep(0.2)
        progress.done_bytes, progress.parts_done = 16 * MIB, 2
        bar(progress)
        time.sleep(0.2)
        progress.done_bytes, progress.parts_done = 32 * MIB, 4
        bar(progress)
    text = out.getvalue()
    assert "MiB/s" in text and "MB/s" not in text.replace("MiB/s", ""), text
    assert "/64.0 MiB" in text or "64.0 MiB" in text, text


def test_bar_goes_to_stderr_by_default() -> None:
    assert BarProgress()._progress.console.stderr
