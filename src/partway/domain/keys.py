"""API keys and tenancy: who is calling, and for which app and consumer."""

from __future__ import annotations

import hashlib
import secrets
import time

from .errors import MissingHeader, Unauthorized
from .models import Tenant, new_id
from .ports import Clock
from .repositories import KeyRepository

KEY_PREFIX = "pw_"


def hash_key(key: str) -> str:
    # Keys are 256-bit random tokens, so a fast hash is safe here (no dictionary to attack).
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


# Every request authenticates; remembering a key's app briefly saves a query on the hot path.
KEY_CACHE_SECONDS = 30.0


class KeyService:
    def __init__(self, repo: KeyRepository, clock: Clock) -> None:
        self._repo = repo
        self._clock = clock
        self._known: dict[str, tuple[str, float]] = {}

    async def create(self, app_id: str) -> str:
        if not app_id.strip():
            raise ValueError("app id must not be empty")
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        await self._repo.add_key(new_id("key"), app_id, hash_key(key), self._clock())
        return key

    async def authenticate(
        self, bearer: str | None, app_id: str | None, consumer_id: str | None
    ) -> Tenant:
        """The key decides the app; the headers must agree with it and name a consumer."""
        if not bearer:
            raise Unauthorized("missing API key: send 'Authorization: Bearer <key>'")
        key_app = await self._app_for(hash_key(bearer))
        if key_app is None:
            raise Unauthorized("invalid API key")
        if not app_id:
            raise MissingHeader("Missing Header: x-apideck-app-id")
        if app_id != key_app:
            raise Unauthorized("the API key does not belong to this app id")
        if not consumer_id:
            raise MissingHeader("Missing Header: x-apideck-consumer-id")
        return Tenant(app_id=app_id, consumer_id=consumer_id)

    async def app_of_key_hash(self, key_hash: str) -> str | None:
        """The app of a key known by its hash, None once revoked: a capability minted under a
        key (http/s3_companion.py's grants) ends with it."""
        return await self._app_for(key_hash)

    async def _app_for(self, key_hash: str) -> str | None:
        now = time.monotonic()
        cached = self._known.get(key_hash)
        if cached is not None and cached[1] > now:
            return cached[0]
        app = await self._repo.app_for_key(key_hash)
        if app is not None:
            if len(self._known) > 10_000:
                self._known.clear()
            self._known[key_hash] = (app, now + KEY_CACHE_SECONDS)
        return app
