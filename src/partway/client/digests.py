"""Which digest the uploader sends, and computing it: per part, and for the whole file by
combining the parts' CRC32Cs (no second read of the file)."""

from __future__ import annotations

import hashlib
import mmap
import os
from collections.abc import Mapping

from ..domain.crc import CRC32C, crc32c_of
from ..wire import crc32c_digest_header, sha1_digest_header

# What the uploader can compute, fastest first; "none" sends no digest.
KNOWN = ("crc32c", "sha")
CHOICES = ("auto", "crc32c", "sha1", "none")
SCAN = 8 * 1024 * 1024


def choose(wanted: str, offered: tuple[str, ...]) -> str | None:
    """The algorithm to use: `wanted`, or with "auto" the first the server offers that this
    client computes (a server that names none takes SHA-1, as Apideck and Box do)."""
    if wanted not in CHOICES:
        raise ValueError(f"digest must be one of {', '.join(CHOICES)}, not {wanted!r}")
    if wanted == "none":
        return None
    if wanted != "auto":
        return "sha" if wanted == "sha1" else wanted
    return next((name for name in offered if name in KNOWN), "sha")


def part_digest(algorithm: str, data: memoryview) -> tuple[str, int | None]:
    """The part's `digest` header value, and its CRC32C when that is the algorithm."""
    if algorithm == "crc32c":
        crc = crc32c_of(data)
        return crc32c_digest_header(crc), crc
    return sha1_digest_header(hashlib.sha1(data).digest()), None


def crc_of_mapped(fd: int, start: int, length: int) -> int:
    """The CRC32C of a range of the file read through a mapping: the page cache's own bytes,
    not a copy (the part then goes out by sendfile, so its bytes never enter Python).

    Measured here: 0.09 s of CPU per 512 MiB against 0.12 for preadv into a buffer, and the
    body's send is the kernel's copy instead of sendall's. A file cut shorter before the
    mapping is an OSError or ValueError (mmap checks the size); cut during the ~0.3 ms a part's
    CRC takes, its pages would fault (SIGBUS): that window is the price of not copying."""
    if length == 0:
        return 0
    skew = start % mmap.ALLOCATIONGRANULARITY  # a mapping starts on a page boundary
    with mmap.mmap(fd, length + skew, prot=mmap.PROT_READ, offset=start - skew) as mapped:
        view = memoryview(mapped)
        try:
            return crc32c_of(view[skew:])
        finally:
            view.release()  # before the mapping closes, which refuses while a view holds it


def crc_of_range(fd: int, start: int, length: int) -> int:
    """The CRC32C of bytes the client did not send in this run (parts resumed from another)."""
    crc, block = 0, bytearray(min(SCAN, max(length, 1)))
    while length:
        view = memoryview(block)[: min(len(block), length)]
        got = os.preadv(fd, [view], start)
        if got <= 0:
            raise OSError("the file is shorter than when the upload began")
        crc = crc32c_of(view[:got], crc)
        start, length = start + got, length - got
    return crc


def whole_crc_header(crcs: Mapping[int, int], sizes: list[int]) -> str:
    """The file's `digest` from its parts' CRC32Cs (by part number) and sizes, in order."""
    combined = CRC32C.combine_all((crcs[n], size) for n, size in enumerate(sizes))
    return crc32c_digest_header(combined)
