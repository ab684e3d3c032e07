"""Clients of a partway server: `upload()` for scripts, `Uploader` (blocking, over `SyncApi`) for
more control, `AsyncApi` for every endpoint from asyncio code."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .api import AsyncApi
    from .models import ApiError, Credentials, SessionInfo, SessionSummary
    from .retry import RetryPolicy
    from .state import StateStore
    from .syncapi import SyncApi
    from .uploader import FileChanged, Uploader, UploadOptions, UploadProgress

# Loaded on first use (PEP 562): `partway upload` imports this package on its way to
# client/cli.py, and loads only what it runs with (no httpx or asyncio over plain HTTP).
_LAZY = {
    "ApiError": "models",
    "AsyncApi": "api",
    "Credentials": "models",
    "SessionInfo": "models",
    "SessionSummary": "models",
    "SyncApi": "syncapi",
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
    "SyncApi",
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
    """`upload` for asyncio code: the blocking uploader in a thread, the loop free meanwhile.
    Cancelled, it stops the upload (parts in flight end; running it again resumes)."""
    import asyncio
    import functools
    import threading

    cancelled = threading.Event()
    running: list[Uploader] = []

    def started(uploader: Uploader) -> None:  # in the upload's thread
        running.append(uploader)
        if cancelled.is_set():  # cancelled while the thread was still setting up
            uploader.stop()

    work = functools.partial(_upload, path, server, credentials, options, state_dir, retry, started)
    try:
        return await asyncio.to_thread(work)
    except asyncio.CancelledError:
        cancelled.set()
        for uploader in list(running):
            uploader.stop()
        raise


def upload(
    path: str | Path,
    *,
    server: str,
    credentials: Credentials,
    options: UploadOptions | None = None,
    state_dir: Path | None = None,
    retry: RetryPolicy | None = None,
) -> dict[str, Any]:
    """Upload one file, resuming an interrupted upload of it; returns the File object."""
    return _upload(path, server, credentials, options, state_dir, retry, lambda _u: None)


def _upload(
    path: str | Path,
    server: str,
    credentials: Credentials,
    options: UploadOptions | None,
    state_dir: Path | None,
    retry: RetryPolicy | None,
    started: Callable[[Uploader], None],
) -> dict[str, Any]:
    from .state import StateStore, default_state_dir
    from .syncapi import SyncApi
    from .uploader import Uploader

    store = StateStore(state_dir or default_state_dir())
    with SyncApi(server, credentials, retry=retry) as api:
        uploader = Uploader(api, server, credentials.app_id, credentials.consumer_id, store)
        started(uploader)  # from here a cancel stops the reach too
        # As the command line does: an address that can never work fails at once, not after
        # minutes of retries of a create whose answer might only have been lost.
        api.reach()
        return uploader.upload(Path(path), options)
