"""Command line: argument parsing only; the work happens in app.py and the domain."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from pydantic import ValidationError

from .config import Settings, load_settings


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, help="data directory (env PARTWAY_DATA_DIR)")
    parser.add_argument("--database-url", help="metadata URL (env PARTWAY_DATABASE_URL)")


def _settings(args: argparse.Namespace, **extra: object) -> Settings:
    return load_settings(data_dir=args.data_dir, database_url=args.database_url, **extra)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .app import create_app

    settings = _settings(args, host=args.host, port=args.port)
    app = create_app(settings)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        http="httptools",
        loop="uvloop",
        timeout_keep_alive=30,
    )
    return 0


def cmd_keys_create(args: argparse.Namespace) -> int:
    from .app import build_services, open_metadata

    settings = _settings(args)
    services = build_services(settings, open_metadata(settings))
    key = asyncio.run(services.keys.create(args.app_id))
    print(key)
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from .metadata import migrate
    from .metadata.engine import make_engine

    settings = _settings(args)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(make_engine(settings.metadata_url()))
    print("metadata schema is up to date")
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="partway", description="resumable large-file uploads")
    sub = root.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve the HTTP API")
    serve.add_argument("--host", help="bind address (env PARTWAY_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (env PARTWAY_PORT, default 8080)")
    _common(serve)
    serve.set_defaults(func=cmd_serve)

    keys = sub.add_parser("keys", help="manage API keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create", help="create a key and print it (stored hashed)")
    create.add_argument("--app-id", required=True)
    _common(create)
    create.set_defaults(func=cmd_keys_create)

    mig = sub.add_parser("migrate", help="create or upgrade the metadata schema")
    _common(mig)
    mig.set_defaults(func=cmd_migrate)

    from .client.cli import register

    register(sub)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        print(f"partway: invalid settings: {problems}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"partway: {exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
