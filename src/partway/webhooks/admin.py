"""`partway webhooks list | retry | replay`: the operator's view of the delivery queue."""

from __future__ import annotations

import argparse
import json
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:  # imported when a command runs: `partway --help` stays fast
    from ..config import Settings
    from ..metadata.deliveries import SqlDeliveries


T = TypeVar("T")


def run_now(work: Coroutine[Any, Any, T]) -> T:
    """The command's coroutine to its end. asyncio is imported here, not at the top: every
    command of partway, `upload` too, builds this module's parsers."""
    import asyncio

    return asyncio.run(work)


def _queue(settings: Settings) -> SqlDeliveries:
    from ..metadata.deliveries import SqlDeliveries
    from ..services import open_metadata

    return SqlDeliveries(open_metadata(settings), durable=settings.fsync)


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    queue = _queue(settings)
    rows = run_now(queue.listing(args.state, args.limit))
    queue.close()
    if args.json:
        print(json.dumps([_row(r.__dict__) for r in rows], indent=2))
        return 0
    for r in rows:
        print(
            f"{r.id}\t{r.endpoint}\t{r.kind}\t{r.entity_id}\t{r.state}\t{r.attempts} tries"
            f"\t{r.last_error or ''}"
        )
    return 0


def _row(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in values.items()}


def cmd_retry(args: argparse.Namespace, settings: Settings) -> int:
    queue = _queue(settings)
    window = timedelta(seconds=settings.webhook_retry_window_seconds)
    count = run_now(queue.retry(args.ids or None, window, datetime.now(UTC)))
    queue.close()
    print(f"{count} dead deliveries queued again")
    return 0


def cmd_replay(args: argparse.Namespace, settings: Settings) -> int:
    from .worker import wanted_by

    queue = _queue(settings)
    window = timedelta(seconds=settings.webhook_retry_window_seconds)
    endpoints = {k: v for k, v in settings.webhooks.items() if args.endpoint in (None, k)}
    count = run_now(
        queue.replay(wanted_by(endpoints), args.first, args.last, window, datetime.now(UTC))
    )
    queue.close()
    print(f"{count} deliveries queued")
    return 0


def register(sub: Any, common: Any, admin: Any) -> None:
    """The `webhooks` command and its subcommands, on cli.py's parser."""
    hooks = sub.add_parser(
        "webhooks", help="list, retry or replay webhook deliveries; apps' subscriptions"
    )
    hooks_sub = hooks.add_subparsers(dest="webhooks_command", required=True)
    listing = hooks_sub.add_parser("list", help="deliveries, newest first")
    listing.add_argument("--state", choices=["pending", "delivered", "dead"])
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    retry = hooks_sub.add_parser("retry", help="try dead deliveries again (all, or these ids)")
    retry.add_argument("ids", nargs="*", type=int)
    replay = hooks_sub.add_parser("replay", help="deliver outbox events again, from an id")
    replay.add_argument("--from", dest="first", type=int, required=True, help="first outbox id")
    replay.add_argument("--to", dest="last", type=int, help="last outbox id (default: all)")
    replay.add_argument("--endpoint", help="only this configured endpoint")
    for parser, run in ((listing, cmd_list), (retry, cmd_retry), (replay, cmd_replay)):
        common(parser)
        parser.set_defaults(func=admin(run))
    from .subscribe_cli import register as register_subscriptions

    register_subscriptions(hooks_sub, common, admin)
