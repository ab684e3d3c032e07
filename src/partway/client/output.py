"""Lines for a reader that may go away: `partway upload --json | head -1` must not stop the upload.

A closed pipe is remembered and its stream pointed at /dev/null, so later lines (and Python's
own flush at exit) go nowhere quietly while the work goes on.
"""

from __future__ import annotations

import os
import sys
from typing import IO

_closed: set[int] = set()


def write_line(text: str, out: IO[str] | None = None) -> None:
    stream = out or sys.stdout
    if id(stream) in _closed:
        return
    try:
        print(text, file=stream, flush=True)
    except BrokenPipeError:
        _closed.add(id(stream))
        _silence(stream)


def _silence(stream: IO[str]) -> None:
    try:
        fd = stream.fileno()
    except (OSError, ValueError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)
