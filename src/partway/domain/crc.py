"""CRC32C, and the CRC of a concatenation from the CRCs and lengths of its pieces, without
their bytes.

Why it works: a reflected CRC with all-ones init and final xor (CRC-32, CRC32C, CRC64NVME) is
affine in the message, so crc(A ‖ B) = (crc(A) · x^(8·|B|) mod P) ⊕ crc(B), where the product
is carry-less multiplication modulo the CRC polynomial P. x^(8·n) mod P is built from the
squares x^(2^k) mod P in O(log n) multiplications, so combining a file's parts costs O(parts)
small products (cached per length: Apideck parts all have one size but the last), never a read.

Polynomials are in the reflected bit order the CRCs use: the x^0 coefficient is the top bit.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from functools import cached_property

from fastcrc import crc32


def crc32c_of(data: bytes | bytearray | memoryview, previous: int = 0) -> int:
    """The CRC32C of `data` (continuing `previous`): fastcrc's SIMD CRC (23 GB/s a core here),
    for any buffer, mapped pages included; iSCSI's CRC is CRC32C."""
    return crc32.iscsi(data, previous)


class ReflectedCrc:
    """A reflected CRC of `width` bits with polynomial `poly` (reflected form).

    A plain class, not a dataclass: `partway upload` imports this module at its start, and
    dataclasses (with the inspect module it loads) cost that start milliseconds."""

    def __init__(self, width: int, poly: int) -> None:
        self.width = width
        self.poly = poly
        self._shifts: dict[int, int] = {}

    @property
    def _top(self) -> int:
        return 1 << (self.width - 1)  # the polynomial 1 (x^0)

    def multiply(self, a: int, b: int) -> int:
        """a · b mod P."""
        product = 0
        bit = self._top
        while a:
            if a & bit:
                product ^= b
                a ^= bit
            bit >>= 1
            b = (b >> 1) ^ self.poly if b & 1 else b >> 1
        return product

    @cached_property
    def _squares(self) -> tuple[int, ...]:
        # x^(2^k) mod P for k = 0..63: enough for any length below 2^61 bytes.
        powers = [self._top >> 1]  # x^1
        for _ in range(63):
            powers.append(self.multiply(powers[-1], powers[-1]))
        return tuple(powers)

    def shift(self, length: int) -> int:
        """x^(8·length) mod P: the operator that moves a CRC past `length` zero bytes."""
        cached = self._shifts.get(length)
        if cached is not None:
            return cached
        result, n, k = self._top, length, 3  # 8·length = length · 2^3
        while n:
            if n & 1:
                result = self.multiply(self._squares[k], result)
            n >>= 1
            k += 1
        if len(self._shifts) < 64:  # a few distinct part lengths per file
            self._shifts[length] = result
        return result

    def combine(self, first: int, second: int, second_length: int) -> int:
        """The CRC of A ‖ B from crc(A), crc(B) and |B|."""
        return self.multiply(self.shift(second_length), first) ^ second

    def combine_all(self, pieces: Iterable[tuple[int, int]]) -> int:
        """The CRC of the pieces (crc, length) laid end to end, in order. A length shared by
        many pieces (Apideck's part size) gets byte tables: 10,000 parts measured 25 ms, against
        167 ms with a bit-by-bit product each (same loaded machine)."""
        held = list(pieces)
        counts = Counter(length for _, length in held)
        tables = {n: self._tables(n) for n, count in counts.items() if count >= _TABLED}
        total = 0  # the CRC of no bytes
        for crc, length in held:
            table = tables.get(length)
            if table is None:
                total = self.multiply(self.shift(length), total)
            else:
                total = _apply(table, total)
            total ^= crc
        return total

    def _tables(self, length: int) -> tuple[list[int], ...]:
        """x ↦ x · x^(8·length) mod P, one 256-entry table per byte of x. The map is linear,
        so each table is built from 8 products (one per bit) and XORs."""
        op = self.shift(length)
        tables = []
        for k in range(self.width // 8):
            table = [0] * 256
            for bit in range(8):
                table[1 << bit] = self.multiply(op, 1 << (8 * k + bit))
            for byte in range(3, 256):
                low = byte & -byte
                if byte != low:
                    table[byte] = table[low] ^ table[byte ^ low]
            tables.append(table)
        return tuple(tables)


_TABLED = 16  # pieces of one length from which byte tables pay for themselves


def _apply(tables: tuple[list[int], ...], value: int) -> int:
    result = 0
    for table in tables:
        result ^= table[value & 0xFF]
        value >>= 8
    return result


CRC32C = ReflectedCrc(32, 0x82F63B78)  # Castagnoli, as iSCSI, ext4, S3 and GCS use it
CRC32 = ReflectedCrc(32, 0xEDB88320)  # zlib's: tests cross-check the math with zlib.crc32
