"""Clients of a partway server: `upload()` for scripts, `AsyncApi`/`Uploader` for more control."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .api import ApiError, AsyncApi, Credentials, SessionInfo, SessionSummary
    from .retry import RetryPolicy
    from .state import StateStore
    from .uploader import FileChanged, Uploader, UploadOptions, UploadProgress

# Loaded on first use (PEP 562): `partway upload` imports this package on its way to
# client/cli.py, and httpx and asyncio are a third of its start (docs/benchmarks.md).
_LAZY = {
    "ApiError": "api",
    "AsyncApi": "api",
    "Credentials": "api",
    "SessionInfo": "api",
    "SessionSummary": "api",
    "RetryPolicy": "retry",
    "StateStore": "state",
    "FileChanged": "uploader",
    "Uploader": "uploader",
    "UploadOptions": "uploader",
    "UploadProgress": "uploader",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)


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
    from .api import AsyncApi
    from .state import StateStore, default_state_dir
    from .uploader import Uploader

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
    import asyncio

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
