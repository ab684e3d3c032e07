"""The live progress bar of `partway upload` on a terminal (rich)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from .progress import MIB

if TYPE_CHECKING:
    from .uploader import UploadProgress


class MibRateColumn(ProgressColumn):
    """The rate in MiB/s: rich's own speed column is decimal (MB/s) beside binary sizes (MiB)."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(
            "?" if speed is None else f"{speed / MIB:.1f} MiB/s", style="progress.data.speed"
        )


class BarProgress:
    """rich's live bars: bytes, rate, ETA and parts per file."""

    def __init__(self, console: Console | None = None) -> None:
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            DownloadColumn(binary_units=True),
            MibRateColumn(),
            TimeRemainingColumn(),
            TextColumn("parts {task.fields[parts]}"),
            transient=False,
            console=console or Console(stderr=True),  # progress is not a result: stderr
        )
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> BarProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def __call__(self, p: UploadProgress) -> None:
        task = self._tasks.get(p.name)
        parts = f"{p.parts_done}/{p.parts_total}"
        if task is None:
            task = self._progress.add_task(p.name, total=p.total_bytes, parts=parts)
            self._tasks[p.name] = task
        self._progress.update(task, completed=p.done_bytes, parts=parts)

    def message(self, text: str) -> None:
        self._progress.console.print(text)
