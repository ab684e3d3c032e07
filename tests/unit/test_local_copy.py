"""clone_or_copy on this machine's filesystem: the bytes arrive whole, whichever way it took."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from partway.storage.local_copy import clone_or_copy


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
