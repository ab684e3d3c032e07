"""Tokens a server can re-derive and check but a database leak cannot forge: an HMAC-SHA256 of
the thing it grants under a secret kept outside the metadata store."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SECRET_BYTES = 32


def new_salt() -> str:
    """128 random bits, per link: a new link never shares a token with an old one."""
    return secrets.token_hex(16)


class Signer:
    def __init__(self, secret: bytes) -> None:
        if len(secret) < SECRET_BYTES:
            raise ValueError(f"the signing secret must be at least {SECRET_BYTES} bytes")
        self._secret = secret

    def sign(self, purpose: str, *parts: str) -> str:
        """A 256-bit URL-safe tag of `parts` for `purpose` (purposes never share a tag)."""
        message = "\x1f".join((purpose, *parts)).encode()
        tag = hmac.new(self._secret, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(tag).decode().rstrip("=")

    def verify(self, tag: str, purpose: str, *parts: str) -> bool:
        """Constant-time: how long this takes says nothing about how close `tag` was."""
        return hmac.compare_digest(tag.encode(), self.sign(purpose, *parts).encode())
