"""Subscription signing secrets, encrypted at rest. A Standard Webhooks secret is the HMAC key
itself, so the server must be able to read it back: hashing is impossible, and it is sealed with
AES-256-GCM under a key kept in a file next to the data (never in the database), so a leaked
database reveals no secret. The subscription's id is bound in as associated data: a sealed
secret copied onto another row does not open. Servers and the CLI must share this file, like
signing.key."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .. import secret_key

FILE_NAME = "webhook-secrets.key"
KEY_BYTES = 32
NONCE_BYTES = 12  # GCM's standard nonce; random per seal (a few subscriptions, no reuse risk)


class UnreadableSecret(Exception):
    """The sealed secret does not open with this key file (another data dir's, or altered)."""


class Sealer:
    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key[:KEY_BYTES])

    @classmethod
    def of_data_dir(cls, data_dir: Path) -> Sealer:
        return cls(secret_key.load_or_create(data_dir, FILE_NAME, KEY_BYTES))

    def seal(self, secret: str, subscription_id: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, secret.encode(), subscription_id.encode())

    def open(self, sealed: bytes, subscription_id: str) -> str:
        nonce, body = sealed[:NONCE_BYTES], sealed[NONCE_BYTES:]
        try:
            return self._aead.decrypt(nonce, body, subscription_id.encode()).decode()
        except InvalidTag:
            raise UnreadableSecret(subscription_id) from None
