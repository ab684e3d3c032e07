from __future__ import annotations

import base64
import hashlib

import pytest

from partway.domain.digests import (
    Digest,
    MultiHasher,
    parse_digest,
    parse_structured_digest,
    parse_tus_checksum,
)
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


def test_crc32c_in_base64_and_in_the_registry_hex() -> None:
    # "dog": 0x0a72a4df, written as S3 and GCS write it and as the IANA registry does.
    want = bytes.fromhex("0a72a4df")
    for header in (f"crc32c={b64(want)}", "CRC32C=a72a4df", "crc32c=0A72A4DF"):
        digest = parse_digest(header)
        assert digest is not None and digest.expected == {"crc32c": want}
    hasher = MultiHasher(["crc32c"])
    hasher.update(b"do")
    hasher.update(memoryview(b"g"))
    assert hasher.hexdigests() == {"crc32c": "0a72a4df"}
    hasher.verify(Digest({"crc32c": want}), "part")
    with pytest.raises(DigestMismatch):
        hasher.verify(Digest({"crc32c": bytes(4)}), "part")


@pytest.mark.parametrize("header", ["crc32c=" + b64(b"12345"), "crc32c=123456789", "crc32c=xyz"])
def test_malformed_crc32c(header: str) -> None:
    with pytest.raises(InvalidInput):
        parse_digest(header)


def test_tus_and_rfc_9530_forms_for_the_fronts_to_come() -> None:
    want = bytes.fromhex("0a72a4df")
    tus = parse_tus_checksum(f"crc32c {b64(want)}")
    assert tus is not None and tus.expected == {"crc32c": want}
    sha = hashlib.sha1(b"x").digest()
    assert parse_tus_checksum(f"sha1 {b64(sha)}") == Digest({"sha1": sha})
    assert parse_tus_checksum(None) is None
    for bad in ("md5 abc", "crc32c", "crc32c ***"):
        with pytest.raises(InvalidInput):
            parse_tus_checksum(bad)
    sf = parse_structured_digest(f"crc32c=:{b64(want)}:, sha-512=:AAAA:")
    assert sf is not None and sf.expected == {"crc32c": want}
    assert parse_structured_digest("sha-512=:AAAA:") is None
    with pytest.raises(InvalidInput):
        parse_structured_digest(f"crc32c={b64(want)}")
