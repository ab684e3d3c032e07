"""Command line: argument parsing only; the work happens in app.py and the domain."""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .env_names import other_names
from .failures import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    CliError,
    explain_os_error,
)

if TYPE_CHECKING:
    from .config import Settings


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="TOML settings file (flags and env win)")
    parser.add_argument("--data-dir", type=Path, help="data directory (env PARTWAY_DATA_DIR)")
    parser.add_argument("--database-url", help="metadata URL (env PARTWAY_DATABASE_URL)")


def _settings(args: argparse.Namespace, **extra: Any) -> Settings:
    # Imported here: the client commands start faster without pydantic-settings.
    from .config import explain_settings_error, load_settings

    flags = {"data_dir": args.data_dir, "database_url": args.database_url, **extra}
    try:
        return load_settings(args.config, **flags)
    except ValueError as exc:  # pydantic's ValidationError and SettingsError among them
        raise CliError(explain_settings_error(exc, flags, args.config), EXIT_USAGE) from exc


def cmd_serve(args: argparse.Namespace) -> int:
    from .serve import run

    return run(_settings(args, host=args.host, port=args.port))


def cmd_config_show(args: argparse.Namespace) -> int:
    print(json.dumps(_settings(args).masked(), indent=2, sort_keys=True))
    return 0


def _admin(name: str) -> Any:
    """An operator command of admin.py, given the parsed settings."""

    def run(args: argparse.Namespace) -> int:
        from . import admin

        code: int = getattr(admin, name)(args, _settings(args))
        return code

    return run


def _with_settings(command: Any) -> Any:
    """A command given the parsed args and settings (one of another module)."""

    def run(args: argparse.Namespace) -> int:
        return int(command(args, _settings(args)))

    return run


def _common_and_debug(parser: argparse.ArgumentParser) -> None:
    _common(parser)
    _debug(parser)


def _debug(parser: argparse.ArgumentParser, default: Any = argparse.SUPPRESS) -> None:
    # SUPPRESS on subcommands: `partway --debug serve` must not be undone by serve's default.
    parser.add_argument(
        "--debug", action="store_true", default=default, help="show tracebacks of failures"
    )


# The commands of client/cli.py: a run of one of them builds only their parsers.
CLIENT_COMMANDS = frozenset({"upload", "sessions", "download"})


def parser(only_client: bool = False) -> argparse.ArgumentParser:
    """The whole command line; with `only_client`, only the client commands: the server's 20
    parsers and the webhook commands' imports cost `partway upload` ~15 ms of its start."""
    from . import __version__

    root = argparse.ArgumentParser(
        prog="partway",
        description="resumable large-file uploads",
        epilog="exit codes: 0 done, 1 failed, 2 usage or settings, 3 server unreachable, "
        "130 interrupted",
    )
    root.add_argument("--version", action="version", version=f"partway {__version__}")
    _debug(root, default=False)
    sub = root.add_subparsers(dest="command", required=True)
    if not only_client:
        _server_commands(sub)
    from .client.cli import register

    register(sub)
    for command in sub.choices.values():
        _debug(command)
    return root


def _server_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = sub.add_parser("serve", help="serve the HTTP API")
    serve.add_argument("--host", help="bind address (env PARTWAY_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (env PARTWAY_PORT, default 8080)")
    _common(serve)
    serve.set_defaults(func=cmd_serve)

    keys = sub.add_parser("keys", help="create, list or revoke API keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create", help="create a key and print it (stored hashed)")
    create.add_argument("--app-id", required=True)
    create.add_argument(
        "--init", action="store_true", help="create the database if there is none yet"
    )
    _common(create)
    create.set_defaults(func=_admin("cmd_keys_create"))
    listing = keys_sub.add_parser("list", help="list keys (ids, apps, dates; never the keys)")
    listing.add_argument("--app-id", help="only this app's keys")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    _common(listing)
    listing.set_defaults(func=_admin("cmd_keys_list"))
    revoke = keys_sub.add_parser("revoke", help="revoke a key by its id (key_…)")
    revoke.add_argument("key_id")
    _common(revoke)
    revoke.set_defaults(func=_admin("cmd_keys_revoke"))

    mig = sub.add_parser("migrate", help="create or upgrade the metadata schema")
    _common(mig)
    mig.set_defaults(func=_admin("cmd_migrate"))

    reap = sub.add_parser("reap", help="reap expired sessions and orphan bytes once")
    reap.add_argument("--once", action="store_true", help="accepted; one run is all it does")
    _common(reap)
    reap.set_defaults(func=_admin("cmd_reap"))

    quota = sub.add_parser("quota", help="show or set a consumer's storage quota")
    quota.add_argument("action", choices=["show", "set"])
    quota.add_argument("--app-id", required=True)
    quota.add_argument("--consumer-id", required=True)
    quota.add_argument("--bytes", type=int, help="the consumer's quota in bytes")
    quota.add_argument("--default", action="store_true", help="back to the configured default")
    _common(quota)
    quota.set_defaults(func=_admin("cmd_quota"))

    store = sub.add_parser("storage", help="set up a configured service's store")
    store_sub = store.add_subparsers(dest="storage_command", required=True)
    cors = store_sub.add_parser("cors", help="let pages of ORIGIN PUT direct parts into the store")
    cors.add_argument("--origin", action="append", required=True, help="repeat for more")
    cors.add_argument("--service", help="whose store (default: the default service)")
    _common_and_debug(cors)
    cors.set_defaults(func=_admin("cmd_storage_cors"))

    config = sub.add_parser("config", help="show the effective settings (secrets masked)")
    config.add_argument("action", choices=["show"])
    _common(config)
    config.set_defaults(func=cmd_config_show)

    from .webhooks.admin import register as register_webhooks

    register_webhooks(sub, _common_and_debug, _with_settings)
    _debug(keys_sub.choices["create"])
    _debug(keys_sub.choices["list"])
    _debug(keys_sub.choices["revoke"])


def _command_of(argv: list[str]) -> str | None:
    """The subcommand named on the command line (the first word not an option): the root's
    own options (--debug, --version, --help) take no values."""
    return next((word for word in argv if not word.startswith("-")), None)


def main(argv: list[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else argv
    client = _command_of(words) in CLIENT_COMMANDS
    if client:
        # No collections during its imports, as __main__.py does for `python -m partway`: the
        # console script reaches here with the collector on and most imports still to come. The
        # command turns it back on once it has imported what it runs with.
        gc.disable()
    else:
        gc.enable()  # __main__.py turned it off for the imports
    try:
        return _run(words, client)
    finally:
        gc.enable()


def _run(words: list[str], client: bool) -> int:
    args = parser(only_client=client).parse_args(words)
    if other_names(os.environ):  # else the settings model (pydantic) need not be imported
        from .config import unknown_variables

        for warning in unknown_variables(os.environ):
            print(f"partway: warning: {warning}", file=sys.stderr)
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Exception as exc:
        if args.debug:
            raise
        message, code = _explain(exc)
        print(f"partway: {message}", file=sys.stderr)
    return code


def _explain(exc: Exception) -> tuple[str, int]:
    """One line and an exit code for any failure; the traceback is `--debug`'s."""
    import sqlalchemy.exc

    if isinstance(exc, CliError):
        return exc.message, exc.code
    if isinstance(exc, sqlalchemy.exc.DBAPIError):
        first = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        return (
            f"the metadata database failed: {first}: check --database-url / "
            "PARTWAY_DATABASE_URL and that the database is reachable and writable",
            EXIT_FAILED,
        )
    if isinstance(exc, OSError):
        return explain_os_error(exc), EXIT_FAILED
    if isinstance(exc, ValueError):
        return str(exc), EXIT_USAGE
    return (
        f"unexpected {type(exc).__name__}: {exc} (run again with --debug for the traceback)",
        EXIT_FAILED,
    )


if __name__ == "__main__":
    sys.exit(main())
