"""CRC of a concatenation from the CRCs and lengths of its pieces, without their bytes.

Why it works: a reflected CRC with all-ones init and final xor (CRC-32, CRC32C, CRC64NVME) is
affine in the message, so crc(A ‖ B) = (crc(A) · x^(8·|B|) mod P) ⊕ crc(B), where the product
is carry-less multiplication modulo the CRC polynomial P. x^(8·n) mod P is built from the
squares x^(2^k) mod P in O(log n) multiplications, so combining a file's parts costs O(parts)
small products (cached per length: Apideck parts all have one size but the last), never a read.

Polynomials are in the reflected bit order the CRCs use: the x^0 coefficient is the top bit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property


@dataclass(frozen=True)
class ReflectedCrc:
    """A reflected CRC of `width` bits with polynomial `poly` (reflected form)."""

    width: int
    poly: int
    _shifts: dict[int, int] = field(default_factory=dict, compare=False, repr=False)

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
        """The CRC of the pieces (crc, length) laid end to end, in order."""
        total = 0  # the CRC of no bytes
        for crc, length in pieces:
            total = self.combine(total, crc, length)
        return total


CRC32C = ReflectedCrc(32, 0x82F63B78)  # Castagnoli, as iSCSI, ext4, S3 and GCS use it
CRC32 = ReflectedCrc(32, 0xEDB88320)  # zlib's: tests cross-check the math with zlib.crc32
