"""Command line: argument parsing only; the work happens in app.py and the domain."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from .config import Settings

log = logging.getLogger("partway")
GIL_SWITCH_SECONDS = 0.0005


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="TOML settings file (flags and env win)")
    parser.add_argument("--data-dir", type=Path, help="data directory (env PARTWAY_DATA_DIR)")
    parser.add_argument("--database-url", help="metadata URL (env PARTWAY_DATABASE_URL)")


def _settings(args: argparse.Namespace, **extra: Any) -> Settings:
    # Imported here: the client commands start faster without pydantic-settings.
    from .config import load_settings

    return load_settings(
        args.config, data_dir=args.data_dir, database_url=args.database_url, **extra
    )


def cmd_serve(args: argparse.Namespace) -> int:
    import uvloop

    from .app import create_app
    from .logs import setup_logging

    settings = _settings(args, host=args.host, port=args.port)
    setup_logging(settings.log_level, settings.log_format)
    # The event loop gives up the GIL at every SQLite call and socket send; with body threads
    # busy, taking it back waited up to the 5 ms default each time, and API requests that make
    # a dozen such calls took seconds under load (py-spy: the loop in pthread_cond_timedwait).
    sys.setswitchinterval(GIL_SWITCH_SECONDS)
    app = create_app(settings)
    uvloop.run(serve(settings, app))
    return 0


def _protocol(settings: Settings, edge: Any) -> Any:
    """partway's HTTP protocol, or uvicorn's stock one if asked or if ours cannot be trusted
    with the installed uvicorn."""
    from .http.fast_path import fast_path_problem

    if settings.http_protocol == "stock":
        log.warning("serving through uvicorn's stock HTTP protocol (http_protocol = stock)")
        return "auto"
    problem = fast_path_problem()
    if problem is not None:
        log.warning(
            "serving through uvicorn's stock HTTP protocol: %s; part bodies go through ASGI "
            "and partway's connection limits are off",
            problem,
        )
        return "auto"
    return edge.protocol()


async def serve(settings: Settings, app: Any) -> None:
    """The API (and /metrics on its own port when configured) until SIGTERM or SIGINT.

    On a signal the server stops accepting, lets requests in flight finish for up to
    shutdown_grace_seconds, then cancels the rest (a part cut off is never recorded).
    """
    import uvicorn

    from .app import build_edge, connection_cap, open_file_limit

    file_limit = open_file_limit()
    edge = build_edge(settings, app.state.services.metrics, file_limit)
    protocol = _protocol(settings, edge)
    log.info(
        "serving on http://%s:%d, data in %s, metadata %s; open files %d, connections %d",
        settings.host,
        settings.port,
        settings.data_dir,
        settings.masked()["database_url"],
        file_limit,
        connection_cap(settings, file_limit),
    )

    def config(asgi: Any, port: int, lifespan: Literal["on", "off"]) -> uvicorn.Config:
        # The metrics port keeps uvicorn's own protocol: scrapes must not count against (or be
        # refused by) the API's connection cap when it is full.
        return uvicorn.Config(
            asgi,
            host=settings.host,
            port=port,
            http=protocol if port == settings.port else "auto",
            ws="none",  # no WebSocket routes: an upgrade request is refused, never switched
            lifespan=lifespan,
            log_config=None,
            access_log=False,
            timeout_keep_alive=int(settings.keepalive_timeout_seconds),
            timeout_graceful_shutdown=int(settings.shutdown_grace_seconds),
        )

    edge.pump.start()
    try:
        await _serve_all(settings, app, config)
    finally:
        edge.pump.stop()
    log.info("stopped")


async def _serve_all(settings: Settings, app: Any, config: Any) -> None:
    import uvicorn

    from .app import create_metrics_app

    extra: uvicorn.Server | None = None
    if settings.metrics_port is not None:
        extra = uvicorn.Server(
            config(create_metrics_app(app.state.services), settings.metrics_port, "off")
        )
        metrics_task = asyncio.create_task(extra.serve())
        while not extra.started:
            await asyncio.sleep(0.01)
    # Started last, the API server owns the signal handlers; the metrics server follows it.
    await uvicorn.Server(config(app, settings.port, "on")).serve()
    if extra is not None:
        extra.should_exit = True
        await metrics_task


def cmd_config_show(args: argparse.Namespace) -> int:
    print(json.dumps(_settings(args).masked(), indent=2, sort_keys=True))
    return 0


def cmd_keys_create(args: argparse.Namespace) -> int:
    from .app import build_services, open_metadata

    settings = _settings(args)
    services = build_services(settings, open_metadata(settings))
    key = asyncio.run(services.keys.create(args.app_id))
    print(key)
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from .app import metadata_engine
    from .metadata import migrate

    migrate.upgrade(metadata_engine(_settings(args)))
    print("metadata schema is up to date")
    return 0


def cmd_reap(args: argparse.Namespace) -> int:
    from .app import build_services, open_metadata
    from .domain.reaper import ReapReport

    settings = _settings(args)
    services = build_services(settings, open_metadata(settings))

    async def once() -> ReapReport:
        try:
            return await services.reaper.run_once()
        finally:
            await services.close()

    report = asyncio.run(once())
    print(
        f"expired {report.expired} session(s), freed {report.bytes_freed} bytes, "
        f"purged {report.purged_rows} old row(s), removed {report.orphans} orphan object(s)"
    )
    if report.suspects:
        print(
            f"{report.suspects} unreferenced object(s) seen: a running server's reaper removes "
            f"them once they stay unreferenced for {settings.orphan_grace_seconds:.0f} s"
        )
    return 0


def cmd_quota(args: argparse.Namespace) -> int:
    from .app import build_services, open_metadata
    from .domain.models import Tenant

    settings = _settings(args)
    services = build_services(settings, open_metadata(settings))
    tenant = Tenant(args.app_id, args.consumer_id)
    admission = services.admission  # the one place quotas are decided
    if args.action == "set":
        if args.bytes is None and not args.default:
            raise ValueError("quota set needs --bytes N or --default")
        if args.bytes is not None and args.bytes < 0:
            raise ValueError("--bytes must not be negative")
        asyncio.run(admission.set_quota(tenant, None if args.default else args.bytes))
    quota, used = asyncio.run(admission.standing(tenant))
    print(f"quota {'unlimited' if quota is None else quota} bytes, used {used} bytes")
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

    reap = sub.add_parser("reap", help="reap expired sessions and orphan bytes")
    reap.add_argument("--once", action="store_true", required=True, help="one run, then exit")
    _common(reap)
    reap.set_defaults(func=cmd_reap)

    quota = sub.add_parser("quota", help="show or set a consumer's storage quota")
    quota.add_argument("action", choices=["show", "set"])
    quota.add_argument("--app-id", required=True)
    quota.add_argument("--consumer-id", required=True)
    quota.add_argument("--bytes", type=int, help="the consumer's quota in bytes")
    quota.add_argument("--default", action="store_true", help="back to the configured default")
    _common(quota)
    quota.set_defaults(func=cmd_quota)

    config = sub.add_parser("config", help="show the effective settings (secrets masked)")
    config.add_argument("action", choices=["show"])
    _common(config)
    config.set_defaults(func=cmd_config_show)

    from .client.cli import register

    register(sub)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except ValueError as exc:  # pydantic's ValidationError among them
        print(f"partway: {_problem(exc)}", file=sys.stderr)
        return 2
    return code


def _problem(exc: ValueError) -> str:
    from pydantic import ValidationError

    if not isinstance(exc, ValidationError):
        return str(exc)
    problems = "; ".join(
        f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
    )
    return f"invalid settings: {problems}"


if __name__ == "__main__":
    sys.exit(main())
