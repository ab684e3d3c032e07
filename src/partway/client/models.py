"""The client's vocabulary, free of any HTTP library: credentials, the server's answers as
types, its errors, and the requests an upload makes (the same for the async and the blocking
client: calls.py builds them, api.py and syncapi.py send them)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple, Protocol

from ..wire import APP_ID, CONSUMER_ID, SERVICE_ID


class Reply(Protocol):
    """What the clients read of an answer: httpx's Response and rawhttp's Answer alike."""

    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def reason_phrase(self) -> str: ...

    @property
    def text(self) -> str: ...

    @property
    def content(self) -> bytes: ...

    def json(self) -> Any: ...


def needs_tls(base_url: str) -> bool:
    """Whether httpx's own transport is needed: plain HTTP goes over partway's (rawhttp.py for
    the uploader, plainhttp.py for AsyncApi), which load no TLS context (~40 ms of CPU for the
    CA bundle) and neither httpcore nor anyio."""
    return base_url.lower().startswith("https:")


class ApiError(Exception):
    """An error answer of the server, with the Apideck error body's fields."""

    def __init__(self, status: int, type_name: str, message: str, detail: Any = None) -> None:
        super().__init__(f"{status} {type_name}: {message}")
        self.status = status
        self.type_name = type_name
        self.message = message
        self.detail = detail


class Credentials(NamedTuple):
    api_key: str
    app_id: str
    consumer_id: str
    service_id: str | None = None

    def headers(self) -> dict[str, str]:
        headers = {
            "Authorization": f"Bearer {self.api_key}",
            APP_ID: self.app_id,
            CONSUMER_ID: self.consumer_id,
        }
        if self.service_id:
            headers[SERVICE_ID] = self.service_id
        return headers


class SessionInfo(NamedTuple):
    id: str
    part_size: int
    size: int | None
    uploaded_parts: list[int]
    success: bool
    name: str
    expires_at: str | None
    file_id: str | None
    # The digests the server takes, fastest first (partway's extension; others: none named).
    digest_algorithms: tuple[str, ...] = ()
    # Whether its parts go straight into the store (partway's extension; others: proxied).
    direct: bool = False

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SessionInfo:
        return cls(
            id=data["id"],
            part_size=int(data["part_size"]),
            size=data.get("size"),
            uploaded_parts=list(data.get("uploaded_parts", [])),
            success=bool(data.get("success")),
            name=data.get("name", ""),
            expires_at=data.get("expires_at"),
            file_id=data.get("file_id"),
            digest_algorithms=tuple(data.get("digest_algorithms") or ()),
            direct=data.get("upload_mode") == "direct",
        )


class SessionSummary(NamedTuple):
    """An unfinished session as the list shows it: its parts as a count and byte ranges."""

    id: str
    name: str
    size: int | None
    part_size: int
    uploaded_parts_count: int
    uploaded_byte_range: str
    expires_at: str | None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SessionSummary:
        return cls(
            id=data["id"],
            name=data.get("name", ""),
            size=data.get("size"),
            part_size=int(data["part_size"]),
            uploaded_parts_count=int(data.get("uploaded_parts_count", 0)),
            uploaded_byte_range=data.get("uploaded_byte_range", ""),
            expires_at=data.get("expires_at"),
        )


def raise_for_error(res: Reply) -> None:
    if res.status_code < 400:
        return
    try:
        body = res.json()
        message = str(body.get("message") or res.reason_phrase)
        raise ApiError(res.status_code, str(body.get("type_name", "")), message, body.get("detail"))
    except ValueError:
        raise ApiError(res.status_code, "", res.text[:200] or res.reason_phrase) from None


class DirectPartRefused(Exception):
    """The object store refused a part (an expired URL, say)."""

    def __init__(self, number: int, status: int, body: str) -> None:
        super().__init__(f"the object store answered {status} to part {number}: {body[:200]}")
        self.status = status
