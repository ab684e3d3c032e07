"""The requests of an upload, as data: what api.py (async, httpx) and syncapi.py (blocking, raw
sockets) send alike, and how their answers' bodies are read. No I/O here."""

from __future__ import annotations

import os
from typing import Any, NamedTuple

from ..wire import DIGEST, FILES_PATH, IDEMPOTENCY_KEY, PART_SIZE_HINT, SESSIONS_PATH, UPLOAD_MODE
from .models import ApiError, SessionInfo


class Call(NamedTuple):
    method: str
    path: str
    headers: dict[str, str] | None = None
    json: Any = None


def reach() -> Call:
    return Call("GET", "/healthz")


class NewSession(NamedTuple):
    """What a create says: the file's name, folder and size (None: unknown until finish), and
    partway's extensions."""

    name: str
    folder_id: str
    size: int | None
    drive_id: str | None = None
    part_size_hint: int | None = None
    idempotency_key: str | None = None
    upload_mode: str | None = None  # "direct", "proxied" or "auto"


def create_session(new: NewSession) -> Call:
    body: dict[str, Any] = {"name": new.name, "parent_folder_id": new.folder_id, "size": new.size}
    if new.drive_id:
        body["drive_id"] = new.drive_id
    # The key makes a retried create (first answer lost) return the same session.
    headers = {IDEMPOTENCY_KEY: new.idempotency_key or os.urandom(16).hex()}
    if new.part_size_hint:
        headers[PART_SIZE_HINT] = str(new.part_size_hint)
    if new.upload_mode:
        headers[UPLOAD_MODE] = new.upload_mode
    return Call("POST", SESSIONS_PATH, headers, body)


def created_id(body: Any) -> str:
    session_id: str = body["data"]["id"]
    return session_id


def get_session(session_id: str) -> Call:
    return Call("GET", f"{SESSIONS_PATH}/{session_id}")


def session_info(body: Any) -> SessionInfo:
    return SessionInfo.from_json(body["data"])


def finish(session_id: str, digest: str | None = None) -> Call:
    headers = {DIGEST: digest} if digest else None
    return Call("POST", f"{SESSIONS_PATH}/{session_id}/finish", headers)


def data(body: Any) -> dict[str, Any]:
    """The `data` object of an answer (a File, say)."""
    found: dict[str, Any] = body["data"]
    return found


def direct_parts(session_id: str) -> Call:
    """partway extension: a signed URL per missing part, for PUTs straight into the store."""
    return Call("GET", f"{SESSIONS_PATH}/{session_id}/direct")


def no_direct_parts(exc: ApiError) -> bool:
    """Whether a refused direct_parts call means the session's store takes no direct parts
    (local disk) or the server has no such route (404/405: the session was just read, so it
    exists; one that did vanish fails at the next call anyway)."""
    unsupported = exc.type_name == "ConnectorOperationUnsupportedError"
    return exc.status in (404, 405) or unsupported


def claimed_direct_parts(session_id: str, claims: list[dict[str, Any]]) -> Call:
    """partway extension: signed URLs for the parts named in `claims` (`part_number`, and
    `md5`/`crc32c` in base64), each bound to what the part will hold."""
    return Call("POST", f"{SESSIONS_PATH}/{session_id}/direct", json={"parts": claims})


def parts(body: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = body["data"]["parts"]
    return found


def abort(session_id: str) -> Call:
    return Call("DELETE", f"{SESSIONS_PATH}/{session_id}")


def get_file(file_id: str) -> Call:
    return Call("GET", f"{FILES_PATH}/{file_id}")
