"""clone_or_copy on this machine's filesystem: the bytes arrive whole, whichever way it took."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from partway.storage.local_copy import clone_or_copy, copy_range


def copy(tmp_path: Path, data: bytes, size: int) -> tuple[str, bytes]:
    source, target = tmp_path / "src", tmp_path / "dst"
    source.write_bytes(data)
    src = os.open(source, os.O_RDONLY)
    dst = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    try:
        how = clone_or_copy(src, dst, size)
    finally:
        os.close(src)
        os.close(dst)
    return how, target.read_bytes()


@pytest.mark.parametrize("size", [0, 1, 4096, 3 * 1024 * 1024 + 7])
def test_bytes_arrive_whole(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    how, copied = copy(tmp_path, data, size)
    assert copied == data
    assert how in ("reflink", "copy_file_range", "read_write")


def test_a_short_source_is_padded_to_its_recorded_size(tmp_path: Path) -> None:
    # A sparse tail never written reads as zeros, as the store's reads of it do.
    how, copied = copy(tmp_path, b"abc", 10)
    if how == "copy_file_range":
        assert copied == b"abc" + bytes(7)


@pytest.mark.parametrize("kernel", [True, False])
def test_a_range_lands_at_its_offset(
    tmp_path: Path, kernel: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """copy_range (tus concatenation on local disk): bytes first.. of the source at `start` of
    the target, the rest of the target untouched; the same without copy_file_range."""
    if not kernel:

        def unsupported(*_: object, **__: object) -> int:
            raise OSError(errno.EXDEV, "cross-device")

        monkeypatch.setattr(os, "copy_file_range", unsupported)
    data = os.urandom(3 * 1024 * 1024 + 5)
    (tmp_path / "src").write_bytes(data)
    (tmp_path / "dst").write_bytes(b"\0" * (2 * 1024 * 1024))
    src = os.open(tmp_path / "src", os.O_RDONLY)
    dst = os.open(tmp_path / "dst", os.O_WRONLY)
    try:
        copy_range(src, dst, 7, 1000, 2 * 1024 * 1024)
    finally:
        os.close(src)
        os.close(dst)
    got = (tmp_path / "dst").read_bytes()
    assert got[:1000] == b"\0" * 1000
    assert got[1000:] == data[7 : 7 + 2 * 1024 * 1024]


def test_a_range_past_the_source_end_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "src").write_bytes(b"short")
    (tmp_path / "dst").write_bytes(b"")
    src = os.open(tmp_path / "src", os.O_RDONLY)
    dst = os.open(tmp_path / "dst", os.O_WRONLY)
    try:
        with pytest.raises(OSError):
            copy_range(src, dst, 0, 0, 100)
    finally:
        os.close(src)
        os.close(dst)
