"""`partway upload | sessions | download`: argument parsing and output only."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .api import ApiError, AsyncApi, Credentials
from .progress import BarProgress, JsonProgress, LineProgress
from .state import StateStore, default_state_dir
from .uploader import FileChanged, Uploader, UploadOptions

DEFAULT_SERVER = "http://127.0.0.1:8080"


def _credentials(args: argparse.Namespace) -> Credentials:
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
        raise SystemExit("partway: missing credentials: " + ", ".join(missing))
    return Credentials(args.api_key, args.app_id, args.consumer_id, args.service_id)


def _client_args(parser: argparse.ArgumentParser) -> None:
    env = os.environ.get
    parser.add_argument("--server", default=env("PARTWAY_SERVER", DEFAULT_SERVER))
    parser.add_argument("--api-key", default=env("PARTWAY_API_KEY"))
    parser.add_argument("--app-id", default=env("PARTWAY_APP_ID"))
    parser.add_argument("--consumer-id", default=env("PARTWAY_CONSUMER_ID"))
    parser.add_argument("--service-id", default=env("PARTWAY_SERVICE_ID"))
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def _api(
    args: argparse.Namespace, on_retry: Callable[[str, float], None] | None = None
) -> AsyncApi:
    return AsyncApi(args.server, _credentials(args), on_retry=on_retry)


def _run(args: argparse.Namespace, work: Callable[[], Any]) -> int:
    """Run a coroutine factory; map failures to messages and exit codes."""
    try:
        asyncio.run(work())
    except ApiError as exc:
        _fail(args, f"server said {exc.status} {exc.type_name}: {exc.message}", exc.detail)
        return 1
    except (OSError, FileChanged) as exc:
        _fail(args, str(exc))
        return 1
    return 0


def _fail(args: argparse.Namespace, message: str, detail: object = None) -> None:
    if args.json:
        print(json.dumps({"event": "error", "message": message, "detail": detail}), flush=True)
    else:
        print(f"partway: {message}", file=sys.stderr)


def cmd_upload(args: argparse.Namespace) -> int:
    files = [Path(f) for f in args.files]
    for f in files:
        if not f.is_file():
            _fail(args, f"{f} is not a readable file")
            return 2
    if args.json:
        show: Any = JsonProgress()
    elif sys.stderr.isatty():
        show = BarProgress()
    else:
        show = LineProgress()
    options = UploadOptions(
        folder_id=args.folder, parallel=args.parallel, part_size_hint=args.part_size_hint
    )
    state = StateStore(args.state_dir)

    def on_retry(what: str, wait: float) -> None:
        show.message(f"retrying in {wait:.1f}s: {what}")

    async def work() -> None:
        async with _api(args, on_retry) as api:
            creds = _credentials(args)
            uploader = Uploader(api, args.server, creds.app_id, creds.consumer_id, state)
            for path in files:
                file = await uploader.upload(path, options, show)
                if args.json:
                    show.emit({"event": "file", "path": str(path), "file": file})
                else:
                    show.message(f"{path} → file {file['id']} ({file.get('size')} bytes)")

    try:
        with show:
            return _run(args, work)
    except KeyboardInterrupt:
        again = " ".join(sys.argv)
        _fail(args, f"interrupted; nothing is lost. Run the same command to resume:\n  {again}")
        return 130


def cmd_sessions(args: argparse.Namespace) -> int:
    async def work() -> None:
        async with _api(args) as api:
            if args.action == "list":
                found = await api.list_sessions()
                if args.json:
                    print(json.dumps([s.__dict__ for s in found]))
                for s in found if not args.json else []:
                    size = "unknown" if s.size is None else str(s.size)
                    held = s.uploaded_byte_range or "-"
                    print(
                        f"{s.id}  {s.name}  size={size}  "
                        f"parts={s.uploaded_parts_count} bytes={held}"
                    )
            elif args.action == "show":
                info = await api.get_session(args.id)
                print(json.dumps(info.__dict__, indent=None if args.json else 2))
            else:
                await api.abort(args.id)
                print(json.dumps({"aborted": args.id}) if args.json else f"aborted {args.id}")

    if args.action != "list" and not args.id:
        _fail(args, f"sessions {args.action} needs a session id")
        return 2
    return _run(args, work)


def cmd_download(args: argparse.Namespace) -> int:
    async def work() -> None:
        async with _api(args) as api:
            info = await api.get_file(args.file_id)
            target = Path(args.output or info["name"])
            temp = target.with_name(target.name + ".partial")
            with temp.open("wb") as out:
                async for chunk in api.download(args.file_id):
                    out.write(chunk)
            temp.replace(target)
            message = {"event": "downloaded", "path": str(target), "size": info.get("size")}
            print(json.dumps(message) if args.json else f"{args.file_id} → {target}")

    return _run(args, work)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    upload = sub.add_parser("upload", help="upload files (parallel, resumable)")
    upload.add_argument("files", nargs="+", metavar="FILE")
    upload.add_argument("--folder", default="root", help="target folder id (default root)")
    upload.add_argument("--parallel", type=int, default=4, help="parts in flight (default 4)")
    upload.add_argument("--part-size-hint", type=int, help="preferred part size in bytes")
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
    _client_args(download)
    download.set_defaults(func=cmd_download)
