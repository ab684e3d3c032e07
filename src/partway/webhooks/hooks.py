"""Blocking hooks over HTTP: a signed JSON POST to the operator's URL for each hook kind.

The hook answers 2xx with an optional JSON verdict:
  {"allow": false, "status": 403, "message": "shown to the client"}
  {"allow": true, "changes": {"name": …, "parent_folder_id": …, "part_size": …,
                              "metadata": {"key": "value", …}}}  (pre-create)
An empty body means allow. Anything else (no answer within the timeout, a non-2xx status, a
body that is not such JSON) is a failure, and the hook's `fail` policy decides: "open" lets the
action go ahead, "closed" refuses it with 503. Each kind has its own concurrency limit, and the
wait for a slot counts against the timeout, so a slow hook delays only its own kind's requests,
and those by at most the timeout."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

import httpx

from ..domain.errors import InvalidInput
from ..domain.hooks import (
    AccessAsk,
    CreateAsk,
    CreateChanges,
    FinishAsk,
    HookRefused,
    HookRefusedInput,
    HookRefusedState,
    HookUnavailable,
)
from ..domain.names import check_metadata
from ..endpoints import HookEndpoint, HookKind
from .signing import signed_headers

log = logging.getLogger("partway.hooks")

REFUSALS: dict[int, type[HookRefused]] = {400: HookRefusedInput, 422: HookRefusedState}


class _Failed(Exception):
    """The hook did not give a usable answer."""


class HttpHooks:
    def __init__(
        self,
        endpoints: Mapping[HookKind, HookEndpoint],
        concurrency: int,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._endpoints = dict(endpoints)
        self._slots = {kind: asyncio.Semaphore(concurrency) for kind in self._endpoints}
        self._client = httpx.AsyncClient(transport=transport, follow_redirects=False)

    async def pre_create(self, ask: CreateAsk) -> CreateChanges:
        verdict = await self._ask("pre-create", _fields(ask))
        changes = verdict.get("changes") or {}
        if not isinstance(changes, dict):
            return CreateChanges()
        metadata = _pairs_or_none(changes.get("metadata"))
        if metadata is not None:
            try:
                metadata = check_metadata(metadata)
            except InvalidInput as exc:  # the hook's fault, not the client's: its fail policy
                self._failed("pre-create", f"metadata: {exc}")
                metadata = None
        return CreateChanges(
            name=_str_or_none(changes.get("name")),
            parent_folder_id=_str_or_none(changes.get("parent_folder_id")),
            part_size=_int_or_none(changes.get("part_size")),
            metadata=metadata,
        )

    async def pre_finish(self, ask: FinishAsk) -> None:
        await self._ask("pre-finish", _fields(ask))

    async def pre_access(self, ask: AccessAsk) -> None:
        await self._ask("pre-access", _fields(ask))

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _ask(self, kind: HookKind, event: dict[str, object]) -> dict[str, Any]:
        """The hook's verdict if it allows; raises its refusal, or applies the fail policy."""
        endpoint = self._endpoints.get(kind)
        if endpoint is None:
            return {}
        try:
            async with asyncio.timeout(endpoint.timeout_seconds):
                async with self._slots[kind]:
                    verdict = await self._post(endpoint, kind, event)
        except (TimeoutError, _Failed, httpx.HTTPError) as exc:
            self._failed(kind, str(exc) or "timeout")
            return {}
        if verdict.get("allow", True) is False:
            status = verdict.get("status")
            message = str(verdict.get("message") or f"refused by the {kind} hook")
            raise REFUSALS.get(status if isinstance(status, int) else 403, HookRefused)(message)
        return verdict

    def _failed(self, kind: HookKind, reason: str) -> None:
        """A hook that gave no usable answer: refuses (fail closed) or lets it go (open)."""
        endpoint = self._endpoints[kind]
        log.warning("%s hook failed (%s); failing %s", kind, reason, endpoint.fail)
        if endpoint.fail == "closed":
            raise HookUnavailable(f"the {kind} hook is unavailable; try again later")

    async def _post(
        self, endpoint: HookEndpoint, kind: HookKind, event: dict[str, object]
    ) -> dict[str, Any]:
        body = json.dumps({"type": kind, "event": event}, default=str).encode()
        headers = signed_headers(endpoint.secret, f"msg_{uuid.uuid4().hex}", body)
        response = await self._client.post(endpoint.url, content=body, headers=headers)
        if not 200 <= response.status_code < 300:
            raise _Failed(f"HTTP {response.status_code}")
        if not response.content.strip():
            return {}
        try:
            verdict = response.json()
        except ValueError:
            raise _Failed("the answer is not JSON") from None
        if not isinstance(verdict, dict):
            raise _Failed("the answer is not a JSON object")
        return verdict


def _fields(ask: CreateAsk | FinishAsk | AccessAsk) -> dict[str, object]:
    values = asdict(ask)
    tenant = values.pop("tenant")
    return {**values, "app_id": tenant["app_id"], "consumer_id": tenant["consumer_id"]}


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _pairs_or_none(value: object) -> dict[str, str] | None:
    """A JSON object of strings (checked for size by the core), else None: no change."""
    if not isinstance(value, dict):
        return None
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        return None
    return dict(value)


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
