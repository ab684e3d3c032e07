from __future__ import annotations

import base64
import hashlib

import pytest

from partway.domain.digests import MultiHasher, parse_digest
from partway.domain.errors import DigestMismatch, InvalidInput


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_parse_sha1_and_sha256() -> None:
    sha1 = hashlib.sha1(b"x").digest()
    sha256 = hashlib.sha256(b"x").digest()
    digest = parse_digest(f"SHA={b64(sha1)}, sha-256={b64(sha256)}, md5=abc")
    assert digest is not None
    assert digest.expected == {"sha1": sha1, "sha256": sha256}
    assert parse_digest(None) is None and parse_digest("  ") is None


@pytest.mark.parametrize(
    "header", ["sha", "sha=***", "sha=" + b64(b"short"), "md5=" + b64(b"x" * 16)]
)
def test_malformed_digests(header: str) -> None:
    with pytest.raises(InvalidInput):
        parse_digest(header)


def test_hasher_verifies() -> None:
    digest = parse_digest("sha=" + b64(hashlib.sha1(b"hello").digest()))
    assert digest is not None
    hasher = MultiHasher(digest.algorithms)
    hasher.update(b"hel")
    hasher.update(memoryview(b"lo"))
    hasher.verify(digest, "part")
    hasher.update(b"!")
    with pytest.raises(DigestMismatch):
        hasher.verify(digest, "part")
