"""What showing just-written bytes to a CRC32C through a mapping costs (storage/local.py `_show`).

python -m bench.map_hash [--size-mib 256] [--runs 5]

Writes a file 8 MiB at a time, as a part lands, and after each window maps it read-only and takes
its CRC32C, the mapping faulted in on read or MAP_POPULATE'd. Prints CPU seconds per GiB beyond
the writes alone, median and spread of `runs` interleaved rounds: one process, one core, so it
shows the cost on a busy machine better than an upload's throughput does.
"""

from __future__ import annotations

import argparse
import mmap
import os
import statistics
import tempfile
import time

from partway.domain.crc import crc32c_of

from .measure import ROOT

MIB = 1024 * 1024
WINDOW = 8 * MIB
WAYS = {
    "write only": None,
    "faulted": mmap.MAP_SHARED,
    "populated": mmap.MAP_SHARED | mmap.MAP_POPULATE,
}


def one_pass(fd: int, size: int, block: bytes, flags: int | None) -> float:
    """CPU seconds to write `size` bytes and, unless `flags` is None, map and hash each window."""
    os.ftruncate(fd, 0)
    began = time.process_time()
    for offset in range(0, size, WINDOW):
        for at in range(offset, offset + WINDOW, len(block)):
            os.pwrite(fd, block, at)
        if flags is not None:
            with (
                mmap.mmap(fd, WINDOW, flags, mmap.PROT_READ, offset=offset) as pages,
                memoryview(pages) as window,
            ):
                crc32c_of(window)
    return time.process_time() - began


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.map_hash")
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    size = args.size_mib // 8 * WINDOW
    block = os.urandom(MIB)
    seconds: dict[str, list[float]] = {name: [] for name in WAYS}
    work = ROOT / "bench" / ".work"  # on the disk the server would use, not a tmpfs
    work.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=work) as file:
        for _ in range(args.runs):
            for name, flags in WAYS.items():
                seconds[name].append(
                    one_pass(file.fileno(), size, block, flags) * 1024 * MIB / size
                )
    alone = statistics.median(seconds["write only"])
    for name, runs in seconds.items():
        extra = statistics.median(runs) - alone
        print(
            f"{name:11s} {statistics.median(runs):.3f} CPU s/GiB (spread {min(runs):.3f}-"
            f"{max(runs):.3f}), {extra:+.3f} beyond the writes"
        )


if __name__ == "__main__":
    main()
