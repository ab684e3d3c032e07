"""RFC 3230 `digest` headers (`sha=<base64>`, `sha-256=<base64>`) and incremental hashing."""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from .errors import DigestMismatch, InvalidInput

_ALGORITHMS = {
    "sha": "sha1",
    "sha-1": "sha1",
    "sha1": "sha1",
    "sha-256": "sha256",
    "sha256": "sha256",
}
_SIZES = {"sha1": 20, "sha256": 32}


@dataclass(frozen=True)
class Digest:
    """Expected digests by hashlib name, values as raw bytes."""

    expected: dict[str, bytes]

    @property
    def algorithms(self) -> list[str]:
        return sorted(self.expected)


def parse_digest(header: str | None) -> Digest | None:
    """Parse `sha=..., sha-256=...`; unknown algorithms are ignored as RFC 3230 allows."""
    if header is None or not header.strip():
        return None
    expected: dict[str, bytes] = {}
    for item in header.split(","):
        algo, sep, value = item.strip().partition("=")
        if not sep:
            raise InvalidInput(
                f"malformed digest header item {item.strip()!r}: expected algo=base64"
            )
        name = _ALGORITHMS.get(algo.strip().lower())
        if name is None:
            continue
        try:
            raw = base64.b64decode(value.strip(), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidInput(f"digest value for {algo!r} is not valid base64") from exc
        if len(raw) != _SIZES[name]:
            raise InvalidInput(f"digest value for {algo!r} has the wrong length for {name}")
        expected[name] = raw
    if not expected:
        raise InvalidInput("digest header names no supported algorithm (use sha= or sha-256=)")
    return Digest(expected)


class MultiHasher:
    """Feeds the same bytes to each requested hash."""

    def __init__(self, algorithms: list[str]) -> None:
        self._hashes = {name: hashlib.new(name) for name in algorithms}

    def update(self, data: bytes | bytearray | memoryview) -> None:
        for h in self._hashes.values():
            h.update(data)

    def hexdigests(self) -> dict[str, str]:
        return {name: h.hexdigest() for name, h in self._hashes.items()}

    def verify(self, digest: Digest, what: str) -> None:
        for name, want in digest.expected.items():
            got = self._hashes[name].digest()
            if got != want:
                raise DigestMismatch(
                    f"{what} does not match its digest: {name} is "
                    f"{base64.b64encode(got).decode()}, expected {base64.b64encode(want).decode()}"
                )
