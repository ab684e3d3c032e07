"""`partway upload | sessions | download`: argument parsing and output only.

A command imports what it uses when it runs (httpx, asyncio, rich): the process start is
part of every upload's time, and tests/unit/test_cli_imports.py keeps it so.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..failures import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    CliError,
    explain_os_error,
    unreachable,
)
from .digests import CHOICES
from .output import write_line
from .state import default_state_dir

if TYPE_CHECKING:
    from .api import AsyncApi
    from .models import Credentials

DEFAULT_SERVER = "http://127.0.0.1:8080"

# What to do about the server's refusals that a person can act on.
_HINTS = {
    401: "check --api-key / PARTWAY_API_KEY and --app-id, and that the key was created in the "
    "server's database (`partway keys list` on the server)",
    402: "the consumer is over its quota: delete files or raise it (`partway quota set`)",
    409: "that name is taken in the folder: rename the file, or delete the existing one",
}


def _import_httpx_without_its_cli() -> None:
    """Called before a client command imports httpx, whose __init__ imports its own command line
    whenever click and rich are installed (uvicorn brings click, partway rich): click, rich and
    pygments, ~65 ms of CPU of every start of `partway upload` (docs/benchmarks.md,
    "Integrity"). A None in sys.modules makes that import fail as if they were missing, which
    httpx catches; partway never runs httpx's command line."""
    if "httpx" in sys.modules:
        return
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
    try:
        import httpx  # noqa: F401
    finally:
        if sys.modules.get("httpx._main", False) is None:
            del sys.modules["httpx._main"]  # a later explicit import gets the real module


def check_server_url(server: str) -> None:
    """A URL that can never work fails here, before any request and any retry."""
    parts = urlsplit(server)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        guess = urlsplit(f"http://{server.split('://', 1)[-1]}")
        example = f"http://{guess.netloc}" if guess.hostname else DEFAULT_SERVER
        raise CliError(
            f"server URL {server!r} (--server / PARTWAY_SERVER) must start with http:// or "
            f"https:// and name a host, e.g. {example}",
            EXIT_USAGE,
        )


def _credentials(args: argparse.Namespace) -> Credentials:
    from .models import Credentials

    missing = [
        flag
        for flag, value in (
            ("--api-key / PARTWAY_API_KEY", args.api_key),
            ("--app-id / PARTWAY_APP_ID", args.app_id),
            ("--consumer-id / PARTWAY_CONSUMER_ID", args.consumer_id),
        )
        if not value
    ]
    if missing:
        raise CliError("missing credentials: set " + ", ".join(missing), EXIT_USAGE)
    return Credentials(args.api_key, args.app_id, args.consumer_id, args.service_id)


def _client_args(parser: argparse.ArgumentParser) -> None:
    env = os.environ.get
    parser.add_argument("--server", default=env("PARTWAY_SERVER", DEFAULT_SERVER))
    parser.add_argument("--api-key", default=env("PARTWAY_API_KEY"))
    parser.add_argument("--app-id", default=env("PARTWAY_APP_ID"))
    parser.add_argument("--consumer-id", default=env("PARTWAY_CONSUMER_ID"))
    parser.add_argument("--service-id", default=env("PARTWAY_SERVICE_ID"))
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def _check(args: argparse.Namespace) -> None:
    """Usage errors (URL, credentials) before any work starts."""
    check_server_url(args.server)
    _credentials(args)


def _api(
    args: argparse.Namespace, on_retry: Callable[[str, float], None] | None = None
) -> AsyncApi:
    from .api import AsyncApi

    return AsyncApi(args.server, _credentials(args), on_retry=on_retry)


def _run(
    args: argparse.Namespace, work: Callable[[], Any], started: Callable[[], bool] = bool
) -> int:
    """Run a coroutine factory; map failures to one line each and an exit code. `started`:
    whether an upload got under way, so that running the command again resumes it."""
    import asyncio

    return _run_blocking(args, lambda: asyncio.run(work()), started)


def _run_blocking(
    args: argparse.Namespace, work: Callable[[], object], started: Callable[[], bool] = bool
) -> int:
    """`_run` for a function that blocks (the uploader)."""
    from ..runtime import settle_after_imports
    from .models import ApiError, DirectPartRefused
    from .retry import is_transport_error
    from .uploader import FileChanged

    settle_after_imports()
    try:
        work()
    except Exception as exc:
        expected = isinstance(exc, CliError | ApiError | FileChanged | DirectPartRefused | OSError)
        if args.debug or not (expected or is_transport_error(exc)):
            raise
        message, code = _describe(args, exc, started())
        _fail(args, message, exc.detail if isinstance(exc, ApiError) else None)
        return code
    return 0


def _describe(args: argparse.Namespace, exc: Exception, started: bool) -> tuple[str, int]:
    from .models import ApiError, DirectPartRefused
    from .uploader import FileChanged

    again = "; run the same command again to resume" if started else ""
    if isinstance(exc, CliError):
        return exc.message, exc.code
    if isinstance(exc, ApiError):
        hint = _HINTS.get(exc.status)
        extra = isinstance(exc.detail, str) and exc.detail and exc.detail != exc.message
        where = f" ({exc.detail})" if extra else ""
        message = f"server said {exc.status} {exc.type_name}: {exc.message}{where}"
        return message + (f": {hint}" if hint else again), EXIT_FAILED
    if isinstance(exc, FileChanged | DirectPartRefused):
        return str(exc), EXIT_FAILED
    if isinstance(exc, OSError):
        return explain_os_error(exc), EXIT_FAILED
    error = unreachable(args.server, exc)  # type: ignore[arg-type]  # a transport error
    return error.message + again, error.code


def _fail(args: argparse.Namespace, message: str, detail: object = None) -> None:
    """One line on stderr; with --json also an error event on stdout for the script."""
    if args.json:
        write_line(json.dumps({"event": "error", "message": message, "detail": detail}))
    print(f"partway: {message}", file=sys.stderr, flush=True)


def _say(message: str) -> None:
    print(f"partway: {message}", file=sys.stderr, flush=True)


def cmd_upload(args: argparse.Namespace) -> int:
    from .models import needs_tls

    if needs_tls(args.server):  # httpx's blocking client; plain HTTP loads no httpx
        _import_httpx_without_its_cli()
    from .progress import MIB, JsonProgress, LineProgress
    from .state import StateStore
    from .syncapi import SyncApi
    from .uploader import Uploader, UploadOptions

    files = [Path(f) for f in args.files]
    for f in files:
        if not f.is_file():
            _fail(args, f"{f} is not a file: give paths of files to upload")
            return EXIT_USAGE
    if args.json:
        show: Any = JsonProgress()
    elif sys.stderr.isatty():
        from .bar import BarProgress  # rich: only for a terminal

        show = BarProgress()
    else:
        show = LineProgress()
    options = UploadOptions(
        folder_id=args.folder,
        parallel=args.parallel,
        part_size_hint=args.part_size_hint,
        digest=args.digest,
        direct=args.direct,
    )
    state = StateStore(args.state_dir)

    def on_retry(what: str, wait: float) -> None:
        show.message(f"partway: waiting {wait:.1f} s for {what}")

    reached: list[object] = []

    def work() -> None:
        creds = _credentials(args)
        with SyncApi(args.server, creds, on_retry=on_retry) as api:
            api.reach()
            reached.append(api)
            uploader = Uploader(api, args.server, creds.app_id, creds.consumer_id, state)
            for path in files:
                file = uploader.upload(path, options, show)
                if args.json:
                    show.emit({"event": "file", "path": str(path), "file": file})
                    continue
                size = int(file.get("size") or 0)
                show.message(f"{path} → file {file['id']} ({size / MIB:.1f} MiB)")
                write_line(str(file["id"]))  # the result, for FILE_ID=$(partway upload …)

    _check(args)  # a wrong URL or missing credentials fail before the bar starts
    try:
        with show:
            return _run_blocking(args, work, started=lambda: bool(reached))
    except KeyboardInterrupt:
        again = " ".join(sys.argv)
        _fail(args, f"interrupted; nothing is lost: run the same command to resume: {again}")
        return EXIT_INTERRUPTED


def cmd_sessions(args: argparse.Namespace) -> int:
    _import_httpx_without_its_cli()

    async def work() -> None:
        async with _api(args) as api:
            await api.reach()
            if args.action == "list":
                found = await api.list_sessions()
                if args.json:
                    write_line(json.dumps([s._asdict() for s in found]))
                elif not found:
                    _say(f"no unfinished uploads for consumer {args.consumer_id}")
                for s in found if not args.json else []:
                    size = "unknown" if s.size is None else str(s.size)
                    held = s.uploaded_byte_range or "-"
                    write_line(
                        f"{s.id}  {s.name}  size={size}  "
                        f"parts={s.uploaded_parts_count} bytes={held}"
                    )
            elif args.action == "show":
                info = await api.get_session(args.id)
                write_line(json.dumps(info._asdict(), indent=None if args.json else 2))
            else:
                await api.abort(args.id)
                write_line(json.dumps({"aborted": args.id}) if args.json else f"aborted {args.id}")

    if args.action != "list" and not args.id:
        _fail(args, f"sessions {args.action} needs a session id: see `partway sessions list`")
        return EXIT_USAGE
    _check(args)
    return _run(args, work)


def cmd_download(args: argparse.Namespace) -> int:
    _import_httpx_without_its_cli()

    def refuse_existing(target: Path) -> None:
        if target.exists() and not args.force:
            raise CliError(f"{target} exists: pass --force to overwrite it, or -o another path")

    if args.output:
        refuse_existing(Path(args.output))

    async def work() -> None:
        async with _api(args) as api:
            await api.reach()
            info = await api.get_file(args.file_id)
            target = Path(args.output or info["name"])
            refuse_existing(target)
            temp = target.with_name(target.name + ".partial")
            with temp.open("wb") as out:
                async for chunk in api.download(args.file_id):
                    out.write(chunk)
            temp.replace(target)
            message = {"event": "downloaded", "path": str(target), "size": info.get("size")}
            write_line(json.dumps(message) if args.json else str(target))
            if not args.json:
                _say(f"{args.file_id} → {target}")

    _check(args)
    return _run(args, work)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    upload = sub.add_parser("upload", help="upload files (parallel, resumable)")
    upload.add_argument("files", nargs="+", metavar="FILE")
    upload.add_argument("--folder", default="root", help="target folder id (default root)")
    upload.add_argument("--parallel", type=int, default=4, help="parts in flight (default 4)")
    upload.add_argument("--part-size-hint", type=int, help="preferred part size in bytes")
    upload.add_argument(
        "--digest",
        choices=CHOICES,
        default="auto",
        help="part and whole-file digest (default auto: the fastest the server offers)",
    )
    upload.add_argument(
        "--no-direct",
        dest="direct",
        action="store_false",
        help="send parts through partway even when its store takes them directly (S3, Azure)",
    )
    upload.add_argument("--state-dir", type=Path, default=default_state_dir())
    _client_args(upload)
    upload.set_defaults(func=cmd_upload)

    sessions = sub.add_parser("sessions", help="list, show or abort upload sessions")
    sessions.add_argument("action", choices=["list", "show", "abort"])
    sessions.add_argument("id", nargs="?")
    _client_args(sessions)
    sessions.set_defaults(func=cmd_sessions)

    download = sub.add_parser("download", help="download a file")
    download.add_argument("file_id")
    download.add_argument("-o", "--output", help="path to write (default: the file's name)")
    download.add_argument("--force", action="store_true", help="overwrite an existing file")
    _client_args(download)
    download.set_defaults(func=cmd_download)
