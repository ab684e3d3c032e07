"""pass_through on shared links: applied, not forwarded (partway has no downstream).

An item whose service_id is the caller's service may set, in `extend_object`, the link fields
the Apideck SharedLink input lacks: `expires_at` (ISO 8601 with a zone) and `max_downloads`
(a whole number ≥ 1). Anything else — another service, operation_id, extend_paths, other keys —
is refused with a 400 naming it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..domain.errors import InvalidInput
from .bodies import PassThrough

LINK_FIELDS = ("expires_at", "max_downloads")


def link_extensions(items: list[PassThrough] | None, service_id: str) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for item in items or []:
        if item.service_id != service_id:
            raise InvalidInput(
                f"pass_through for service {item.service_id!r} is not supported: "
                f"this server is {service_id!r}"
            )
        if item.operation_id or item.extend_paths:
            raise InvalidInput("pass_through operation_id and extend_paths are not supported")
        for key, value in (item.extend_object or {}).items():
            if key not in LINK_FIELDS:
                raise InvalidInput(
                    f"pass_through extend_object key {key!r} is not supported; "
                    f"supported: {', '.join(LINK_FIELDS)}"
                )
            found[key] = _checked(key, value)
    return found


def _checked(key: str, value: Any) -> Any:
    if value is None:
        return None
    if key == "expires_at":
        try:
            return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInput("pass_through expires_at must be an ISO 8601 time") from None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 2**62:
        raise InvalidInput("pass_through max_downloads must be a whole number ≥ 1")
    return value
