"""Operator-configured endpoints for webhooks and blocking hooks.

URLs and secrets come only from the operator's settings (env or TOML), never from a tenant, so
partway never sends requests to an address a tenant chose; and they never enter the database,
so a leaked database reveals no signing secret.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

HookKind = Literal["pre-create", "pre-finish", "pre-access"]


def _check_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError("an endpoint URL must start with http:// or https://")
    return value


def _check_secret(value: str) -> str:
    # Standard Webhooks: `whsec_` then the base64 of the HMAC key.
    if not value.startswith("whsec_"):
        raise ValueError("a signing secret must look like whsec_<base64 key>")
    try:
        key = base64.b64decode(value.removeprefix("whsec_"), validate=True)
    except binascii.Error:
        raise ValueError("a signing secret must look like whsec_<base64 key>") from None
    if len(key) < 24:
        raise ValueError("a signing secret's key must be at least 24 bytes")
    return value


Url = Annotated[str, AfterValidator(_check_url)]
Secret = Annotated[str, AfterValidator(_check_secret)]


class WebhookEndpoint(BaseModel):
    """Where durable events are delivered. Empty filters mean every event kind / every app."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: Url
    secret: Secret
    events: list[str] = Field(default_factory=list, description="outbox kinds, e.g. file.created")
    app_ids: list[str] = Field(default_factory=list)

    def wants(self, kind: str, app_id: str) -> bool:
        return (not self.events or kind in self.events) and (
            not self.app_ids or app_id in self.app_ids
        )


class HookEndpoint(BaseModel):
    """A blocking hook: asked before an action, answers allow, refuse or (pre-create) change."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: Url
    secret: Secret
    timeout_seconds: float = Field(5.0, gt=0)
    # What an unreachable, slow or broken hook means: "open" lets the action go ahead,
    # "closed" refuses it (503).
    fail: Literal["open", "closed"] = "closed"
