"""Copying a file on local disk as cheaply as the filesystem allows: a reflink (FICLONE: the
copy shares the source's blocks until either is written; btrfs, XFS, bcachefs), else
copy_file_range (the kernel moves the bytes, or shares them where it can: NFS server-side copy,
XFS/btrfs), else a plain read/write loop (a filesystem with neither)."""

from __future__ import annotations

import errno
import fcntl
import os
import shutil

# _IOW(0x94, 9, int) from linux/fs.h.
FICLONE = 0x40049409
# Errors that say "this filesystem or pair of files cannot do that", not "the copy failed".
_UNSUPPORTED = {errno.EOPNOTSUPP, errno.ENOTTY, errno.EXDEV, errno.EINVAL, errno.ENOSYS}
# copy_file_range moves at most this much per call; looping keeps each call short.
STEP = 1 << 30


def clone_or_copy(source: int, target: int, size: int) -> str:
    """Copy `size` bytes of `source` into the empty `target`; returns how ("reflink",
    "copy_file_range" or "read_write")."""
    if size == 0:
        return "reflink"
    try:
        fcntl.ioctl(target, FICLONE, source)
        return "reflink"
    except OSError as exc:
        if exc.errno not in _UNSUPPORTED:
            raise
    try:
        _copy_range(source, target, size)
        return "copy_file_range"
    except OSError as exc:
        if exc.errno not in _UNSUPPORTED:
            raise
    os.ftruncate(target, 0)
    with open(source, "rb", closefd=False) as src, open(target, "wb", closefd=False) as dst:
        os.lseek(source, 0, os.SEEK_SET)
        shutil.copyfileobj(src, dst, 1 << 20)
    return "read_write"


def _copy_range(source: int, target: int, size: int) -> None:
    moved = _in_kernel(source, target, 0, 0, size)
    if moved < size:
        # The source is shorter than its recorded size: a sparse tail never written.
        os.ftruncate(target, size)


def _in_kernel(source: int, target: int, first: int, start: int, size: int) -> int:
    """copy_file_range of up to `size` bytes from `first` to `start`; the bytes moved (fewer
    where the source ends first)."""
    done = 0
    while done < size:
        moved = os.copy_file_range(
            source, target, min(STEP, size - done),
            offset_src=first + done, offset_dst=start + done,
        )  # fmt: skip
        if moved == 0:
            break
        done += moved
    return done


def copy_range(source: int, target: int, first: int, start: int, size: int) -> None:
    """Bytes first..first+size-1 of `source` into `target` at `start`: in the kernel
    (copy_file_range, which shares blocks where the filesystem can), else read and written."""
    short = OSError(errno.EIO, "the source ended before its recorded size")
    try:
        if _in_kernel(source, target, first, start, size) < size:
            raise short
        return
    except OSError as exc:
        if exc.errno not in _UNSUPPORTED:
            raise
    done = 0
    while done < size:
        block = os.pread(source, min(1 << 20, size - done), first + done)
        if not block:
            raise short
        view = memoryview(block)
        while view:
            written = os.pwrite(target, view, start + done)
            view = view[written:]
            done += written
