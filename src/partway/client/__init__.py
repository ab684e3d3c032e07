"""Clients of a partway server: `upload()` for scripts, `AsyncApi`/`Uploader` for more control."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from .api import ApiError, AsyncApi, Credentials, SessionInfo, SessionSummary
from .retry import RetryPolicy
from .state import StateStore, default_state_dir
from .uploader import FileChanged, Uploader, UploadOptions, UploadProgress

__all__ = [
    "ApiError",
    "AsyncApi",
    "Credentials",
    "FileChanged",
    "RetryPolicy",
    "SessionInfo",
    "SessionSummary",
    "StateStore",
    "UploadOptions",
    "UploadProgress",
    "Uploader",
    "upload",
    "upload_async",
]


async def upload_async(
    path: str | Path,
    *,
    server: str,
    credentials: Credentials,
    options: UploadOptions | None = None,
    state_dir: Path | None = None,
    retry: RetryPolicy | None = None,
) -> dict[str, Any]:
    """Upload one file, resuming an interrupted upload of it; returns the File object."""
    store = StateStore(state_dir or default_state_dir())
    async with AsyncApi(server, credentials, retry=retry) as api:
        uploader = Uploader(api, server, credentials.app_id, credentials.consumer_id, store)
        return await uploader.upload(Path(path), options)


def upload(
    path: str | Path,
    *,
    server: str,
    credentials: Credentials,
    options: UploadOptions | None = None,
    state_dir: Path | None = None,
    retry: RetryPolicy | None = None,
) -> dict[str, Any]:
    """The blocking form of `upload_async`, for code without an event loop."""
    return asyncio.run(
        upload_async(
            path,
            server=server,
            credentials=credentials,
            options=options,
            state_dir=state_dir,
            retry=retry,
        )
    )
