"""`partway webhooks subscribe | subscriptions | unsubscribe`: an app's own webhook endpoints,
on the server's database and data dir (the key that seals secrets lives there). Servers pick
changes up within seconds; no restart."""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..failures import EXIT_USAGE, CliError
from .admin import run_now

if TYPE_CHECKING:  # imported when a command runs: `partway --help` stays fast
    from ..config import Settings
    from ..metadata.subscriptions import SqlSubscriptions

SECRET_KEY_BYTES = 32  # Standard Webhooks asks for 24 to 64


def _store(settings: Settings) -> SqlSubscriptions:
    from ..admin import database_exists
    from ..metadata.subscriptions import SqlSubscriptions
    from ..services import open_metadata

    if not database_exists(settings):
        raise CliError(
            f"no partway database at {settings.masked()['database_url']}: point --data-dir or "
            "--database-url (or PARTWAY_DATA_DIR / PARTWAY_DATABASE_URL) at the server's",
            EXIT_USAGE,
        )
    return SqlSubscriptions(open_metadata(settings), durable=settings.fsync)


def _kinds(text: str | None) -> tuple[str, ...]:
    from ..domain.subscriptions import EVENT_KINDS

    kinds = tuple(k.strip() for k in (text or "").split(",") if k.strip())
    unknown = sorted(set(kinds) - EVENT_KINDS)
    if unknown:
        raise CliError(
            f"unknown event kind {', '.join(unknown)}: "
            f"choose from {', '.join(sorted(EVENT_KINDS))}",
            EXIT_USAGE,
        )
    return kinds


def cmd_subscribe(args: argparse.Namespace, settings: Settings) -> int:
    from ..admin import say
    from ..domain.subscriptions import PREFIX, Subscription
    from .addresses import RefusedUrl, check_now
    from .sealing import Sealer

    kinds = _kinds(args.events)
    try:
        check_now(settings.url_policy(), args.url)
    except RefusedUrl as exc:
        raise CliError(f"refused {args.url}: {exc}", EXIT_USAGE) from None
    store = _store(settings)
    subscription = Subscription(
        PREFIX + secrets.token_hex(10), args.app_id, args.url, kinds, datetime.now(UTC)
    )
    secret = "whsec_" + base64.b64encode(os.urandom(SECRET_KEY_BYTES)).decode()
    sealed = Sealer.of_data_dir(settings.data_dir).seal(secret, subscription.id)
    try:
        run_now(store.add(subscription, sealed))
    finally:
        store.close()
    say(f"subscribed {args.url} for app {args.app_id}; the secret is shown only this once")
    if args.json:
        print(json.dumps({**_shown(subscription.__dict__), "secret": secret}))
    else:
        print(f"{subscription.id}\t{secret}")
    return 0


def _shown(values: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v.isoformat() if isinstance(v, datetime) else list(v) if isinstance(v, tuple) else v
        for k, v in values.items()
    }


def cmd_subscriptions(args: argparse.Namespace, settings: Settings) -> int:
    store = _store(settings)
    try:
        found = run_now(store.listing(args.app_id))
    finally:
        store.close()
    if args.json:
        print(json.dumps([_shown(s.__dict__) for s in found], indent=2))
        return 0
    for s in found:
        kinds = ",".join(s.events) or "*"
        print(f"{s.id}\t{s.app_id}\t{s.url}\t{kinds}\t{s.created_at.isoformat()}")
    return 0


def cmd_unsubscribe(args: argparse.Namespace, settings: Settings) -> int:
    store = _store(settings)
    try:
        stopped = run_now(store.remove(args.id))
    finally:
        store.close()
    if stopped is None:
        raise CliError(f"no subscription {args.id} (see `partway webhooks subscriptions`)")
    print(f"unsubscribed {args.id}; {stopped} pending deliveries stopped")
    return 0


def register(hooks_sub: Any, common: Any, admin: Any) -> None:
    """The subscription subcommands of `partway webhooks`."""
    subscribe = hooks_sub.add_parser(
        "subscribe", help="add an app's endpoint; prints its id and signing secret (once)"
    )
    subscribe.add_argument("--app-id", required=True)
    subscribe.add_argument("--url", required=True, help="within PARTWAY_WEBHOOK_ALLOWED_HOSTS")
    subscribe.add_argument(
        "--events", help="comma-separated kinds, e.g. file.created (default all)"
    )
    subscribe.add_argument("--json", action="store_true", help="machine-readable output")
    listing = hooks_sub.add_parser("subscriptions", help="list subscriptions (never secrets)")
    listing.add_argument("--app-id", help="only this app's")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    unsubscribe = hooks_sub.add_parser(
        "unsubscribe", help="remove a subscription; its pending deliveries become dead letters"
    )
    unsubscribe.add_argument("id")
    commands = (
        (subscribe, cmd_subscribe), (listing, cmd_subscriptions), (unsubscribe, cmd_unsubscribe)
    )  # fmt: skip
    for parser, run in commands:
        common(parser)
        parser.set_defaults(func=admin(run))
