"""The CRC combine math (domain/crc.py) against the libraries' CRC of the concatenation, and
partway's CRC32C (fastcrc) against AWS's."""

from __future__ import annotations

import itertools
import zlib

from awscrt import checksums
from hypothesis import given, settings
from hypothesis import strategies as st

from partway.domain.crc import CRC32, CRC32C, ReflectedCrc, crc32c_of

# CRC64NVME (S3's full-object default), reflected: the generic code at 64 bits.
CRC64NVME = ReflectedCrc(64, 0x9A6C9329AC4BC9B5)


def crc32c(data: bytes) -> int:
    value: int = checksums.crc32c(data)
    return value


def crc64nvme(data: bytes) -> int:
    value: int = checksums.crc64nvme(data)
    return value


def pieces_of(data: bytes, cuts: list[int]) -> list[bytes]:
    bounds = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


@settings(max_examples=300)
@given(st.binary(max_size=4096), st.lists(st.integers(min_value=0), max_size=12))
def test_combined_crc32c_is_the_crc32c_of_the_concatenation(data: bytes, cuts: list[int]) -> None:
    pieces = pieces_of(data, cuts)
    assert CRC32C.combine_all((crc32c(p), len(p)) for p in pieces) == crc32c(data)


@settings(max_examples=100)
@given(st.binary(max_size=2048), st.lists(st.integers(min_value=0), max_size=8))
def test_the_same_math_gives_zlib_crc32_and_crc64nvme(data: bytes, cuts: list[int]) -> None:
    pieces = pieces_of(data, cuts)
    assert CRC32.combine_all((zlib.crc32(p), len(p)) for p in pieces) == zlib.crc32(data)
    assert CRC64NVME.combine_all((crc64nvme(p), len(p)) for p in pieces) == crc64nvme(data)


@given(st.binary(max_size=64), st.binary(max_size=64), st.integers(0, 5))
def test_equal_length_pieces_reuse_the_cached_shift(a: bytes, b: bytes, repeat: int) -> None:
    # Apideck parts are one size but the last: the shift for that size is computed once.
    data = (a + b) * repeat + a
    pieces = [a, b] * repeat + [a]
    assert CRC32C.combine_all((crc32c(p), len(p)) for p in pieces) == crc32c(data)


def test_large_lengths_without_large_buffers() -> None:
    # 4 GiB of zeros in 8 MiB parts, by doubling and by 512 combines: lengths past 2^32 bits.
    part = bytes(8 << 20)
    whole = crc32c(part)
    for _ in range(9):  # 8 MiB doubled 9 times: 4 GiB
        whole = CRC32C.combine(whole, whole, len(part) << _)
    combined = crc32c(part)
    crc_part = crc32c(part)
    for _ in range(511):
        combined = CRC32C.combine(combined, crc_part, len(part))
    assert combined == whole


def test_known_values() -> None:
    assert crc32c(b"dog") == 0x0A72A4DF  # the IANA registry's example
    assert CRC32C.combine(crc32c(b"do"), crc32c(b"g"), 1) == 0x0A72A4DF
    assert CRC32C.combine_all([]) == 0 and CRC32C.combine(7, 0, 0) == 7


@settings(max_examples=50)
@given(st.lists(st.binary(min_size=0, max_size=40), min_size=1, max_size=6), st.integers(16, 60))
def test_many_pieces_of_one_length_use_tables(tail: list[bytes], count: int) -> None:
    # Enough pieces of one length to take the table path, between others that do not.
    same = [bytes([i % 256]) * 37 for i in range(count)]
    pieces = [*tail, *same, *tail]
    data = b"".join(pieces)
    assert CRC32C.combine_all((crc32c(p), len(p)) for p in pieces) == crc32c(data)
    assert CRC64NVME.combine_all((crc64nvme(p), len(p)) for p in pieces) == crc64nvme(data)


@settings(max_examples=200)
@given(st.binary(max_size=70_000), st.integers(min_value=0))
def test_partways_crc32c_is_awss_over_any_buffer_and_continued(data: bytes, cut: int) -> None:
    # partway hashes with fastcrc (domain/digests.py): bytes, bytearrays and memoryview slices
    # (the mapped file, the received chunks), continued across chunks, as AWS's library does.
    cut %= len(data) + 1
    assert crc32c_of(data) == crc32c(data)
    assert crc32c_of(memoryview(bytearray(data))[cut:]) == crc32c(data[cut:])
    assert crc32c_of(data[cut:], crc32c_of(data[:cut])) == crc32c(data)
