from __future__ import annotations

import functools
import io
import json
import os
import stat
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import cast

import pytest
from rich.console import Console

from partway.client.api import Credentials
from partway.client.bar import BarProgress
from partway.client.digests import choose, crc_of_mapped, crc_of_range
from partway.client.parts import FileShrank, PartJob, PartSender, send_in_turn
from partway.client.progress import JsonProgress, LineProgress
from partway.client.retry import RetryPolicy, parse_retry_after
from partway.client.state import FileIdentity, StateStore, UploadRecord
from partway.client.uploader import UploadProgress, part_count, part_range
from partway.domain.crc import crc32c_of


def test_backoff_grows_with_jitter_and_honours_retry_after() -> None:
    policy = RetryPolicy(initial=1.0, maximum=10.0)
    for attempt, ceiling in [(0, 1.0), (1, 2.0), (2, 4.0), (5, 10.0)]:
        delays = [policy.delay(attempt) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1
    assert policy.delay(0, "3") == 3.0
    assert policy.delay(0, "999") == 10.0
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=5), usegmt=True)
    assert 3.0 < (parse_retry_after(later) or 0) <= 5.0
    assert parse_retry_after("soon") is None


def test_part_layout() -> None:
    assert part_count(0, 8) == 1 and part_count(16, 8) == 2 and part_count(17, 8) == 3
    assert part_range(17, 8, 2) == (16, 1)
    assert part_range(0, 8, 0) == (0, 0)


def test_identity_notices_edits(tmp_path: Path) -> None:
    f = tmp_path / "f.bin"
    f.write_bytes(os.urandom(3 * 1024 * 1024))
    first = FileIdentity.of(f)
    assert FileIdentity.of(f) == first
    data = bytearray(f.read_bytes())
    data[-1] ^= 0xFF
    f.write_bytes(bytes(data))
    os.utime(f, ns=(first.mtime_ns, first.mtime_ns))
    # Same size and mtime, but the last MiB differs.
    assert FileIdentity.of(f) != first


def test_state_store_round_trip_and_corruption(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state")
    f = tmp_path / "f.bin"
    f.write_bytes(b"x")
    key = StateStore.key("http://s", "a", "c", "root", f)
    record = UploadRecord("http://s", "a", "c", "root", "f.bin", FileIdentity.of(f), "k1", "ses_1")
    store.save(key, record)
    assert store.load(key) == record
    (tmp_path / "state" / f"{key}.json").write_text("{half")
    assert store.load(key) is None
    store.delete(key)
    assert store.load(key) is None


def test_state_store_save_fsyncs_record_and_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[bool] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(stat.S_ISDIR(os.fstat(fd).st_mode))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    f = tmp_path / "f.bin"
    f.write_bytes(b"x")
    record = UploadRecord("http://s", "a", "c", "root", "f.bin", FileIdentity.of(f), "k1")
    StateStore(tmp_path / "state").save("k", record)
    assert synced == [False, True]  # the record's bytes, then its name in the directory


def progress(done: int, parts: int, event: str = "part") -> UploadProgress:
    return UploadProgress("f.bin", 3 * 1024 * 1024, 3, done * 1024 * 1024, parts, event=event)


def test_renderers() -> None:
    out = io.StringIO()
    with BarProgress(Console(file=out, force_terminal=True, width=120)) as bar:
        bar(progress(1, 1))
        bar(progress(3, 3, "done"))
    assert "parts 3/3" in out.getvalue() and "f.bin" in out.getvalue()

    lines = io.StringIO()
    plain = LineProgress(lines, interval=3600)
    plain(progress(1, 1))
    plain(progress(2, 2))
    time.sleep(0.01)
    plain(progress(3, 3, "done"))
    shown = lines.getvalue().splitlines()
    assert len(shown) == 2 and "parts 3/3" in shown[-1] and "100.0%" in shown[-1]

    js = io.StringIO()
    JsonProgress(js)(progress(3, 3, "done"))
    assert json.loads(js.getvalue())["parts_done"] == 3


def test_the_digest_is_the_fastest_offered_unless_asked() -> None:
    assert choose("auto", ("crc32c", "sha", "sha-256")) == "crc32c"
    assert choose("auto", ("sha-256", "sha")) == "sha"
    assert choose("auto", ()) == "sha"  # Apideck and Box name none and take SHA-1
    assert choose("sha1", ("crc32c",)) == "sha" and choose("none", ("crc32c",)) is None
    assert choose("crc32c", ()) == "crc32c"
    with pytest.raises(ValueError):
        choose("md5", ())


@pytest.mark.parametrize(
    ("start", "length"),
    [(0, 0), (0, 1), (5, 70_000), (4096, 8192), (65_535, 200_001), (300_000 - 7, 7)],
)
def test_a_mapped_range_has_the_crc_of_its_bytes(tmp_path: Path, start: int, length: int) -> None:
    """Ranges on and off page boundaries, empty and to the file's last byte."""
    data = os.urandom(300_000)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    try:
        assert crc_of_mapped(fd, start, length) == crc32c_of(data[start : start + length])
        assert crc_of_range(fd, start, length) == crc_of_mapped(fd, start, length)
    finally:
        os.close(fd)


def test_a_range_past_the_end_of_the_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "short.bin"
    path.write_bytes(b"abc")
    fd = os.open(path, os.O_RDONLY)
    try:
        with pytest.raises(ValueError):
            crc_of_mapped(fd, 0, 10)
    finally:
        os.close(fd)


def test_a_crc_part_past_the_end_of_the_file_is_a_shrunk_file(tmp_path: Path) -> None:
    """The mapped CRC path notices a file cut short before the part is read (and sends nothing:
    nothing listens at the server's address)."""
    path = tmp_path / "short.bin"
    path.write_bytes(b"abc")
    sender = PartSender("http://127.0.0.1:9", Credentials("k", "app", "consumer"))
    fd = os.open(path, os.O_RDONLY)
    try:
        with pytest.raises(FileShrank):
            sender.send_from_file(fd, bytearray(10), "ses_x", 0, 0, 10, "crc32c")
    finally:
        os.close(fd)
        sender.close()


class FakeSender:
    """What send_in_turn uses of a PartSender: records each send, runs `while_waiting`."""

    def __init__(self) -> None:
        self.stopped = False
        self.sent: list[tuple[int, int | None, bool]] = []  # number, CRC handed in, hook given

    def crc_ahead(self, algorithm: str | None) -> bool:
        return algorithm == "crc32c"

    def send_from_file(
        self,
        fd: int,
        buffer: object,
        session_id: str,
        number: int,
        offset: int,
        length: int,
        algorithm: str | None,
        crc: int | None = None,
        while_waiting: Callable[[], None] | None = None,
    ) -> int | None:
        self.sent.append((number, crc, while_waiting is not None))
        if while_waiting is not None:
            while_waiting()  # as RawPut.put does once the body is out
        if algorithm != "crc32c":
            return None
        return crc if crc is not None else crc_of_mapped(fd, offset, length)


@pytest.mark.parametrize("algorithm", ["crc32c", None])
def test_a_worker_sends_its_parts_in_turn_with_the_next_crc_ready(
    tmp_path: Path, algorithm: str | None
) -> None:
    path = tmp_path / "f.bin"
    data = os.urandom(5 * 1000 + 7)
    path.write_bytes(data)
    done: list[tuple[int, int, int | None]] = []
    sender = FakeSender()
    with path.open("rb") as f:
        job = PartJob(f.fileno(), 1000, "s", algorithm)
        ranges = functools.partial(part_range, len(data), 1000)
        pending = deque(range(6))
        send_in_turn(cast(PartSender, sender), pending, ranges, job, lambda *d: done.append(d))
    assert [n for n, _, _ in done] == list(range(6)) and not pending
    assert [length for _, length, _ in done] == [1000] * 5 + [7]
    if algorithm == "crc32c":
        # Each part after the first came with its CRC, computed while the one before it was
        # being stored; the CRCs are the parts' own.
        assert [crc is not None for _, crc, _ in sender.sent] == [False] + [True] * 5
        assert [crc for _, _, crc in done] == [
            crc32c_of(data[n * 1000 : n * 1000 + 1000]) for n in range(6)
        ]
    else:
        assert all(crc is None and not hook for _, crc, hook in sender.sent)


def test_a_stopped_sender_takes_no_more_parts(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(bytes(3000))
    sender = FakeSender()
    done: list[int] = []

    def on_sent(number: int, length: int, crc: int | None) -> None:
        done.append(number)
        sender.stopped = True  # as PartSender.stop() after a failure elsewhere

    with path.open("rb") as f:
        job = PartJob(f.fileno(), 1000, "s", "crc32c")
        pending = deque(range(3))
        ranges = functools.partial(part_range, 3000, 1000)
        send_in_turn(cast(PartSender, sender), pending, ranges, job, on_sent)
    assert done == [0]
