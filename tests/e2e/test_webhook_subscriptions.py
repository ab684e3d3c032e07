"""Webhook subscriptions over real processes: `partway webhooks subscribe` while a server runs,
the app's events only, signed with the secret the CLI printed (checked with the
`standardwebhooks` reference library), that secret nowhere in the database, `unsubscribe`
stopping deliveries, and URLs outside the allowed hosts refused at subscribe and at delivery."""

from __future__ import annotations

import base64
import dataclasses
import json
import subprocess
import time
from pathlib import Path
from typing import Any

from standardwebhooks.webhooks import Webhook

from tests.conftest import (
    PARTWAY,
    assert_clean_log,
    create_key,
    relaunch,
    start_server,
    stop_server,
)

from .helpers import create_session, upload_whole
from .webhook_receiver import environ, receiver

# The receiver listens on 127.0.0.1 over http: both must be allowed by the operator.
LOOPBACK_ALLOWED = {
    "PARTWAY_WEBHOOK_ALLOWED_HOSTS": '["127.0.0.1"]',
    "PARTWAY_WEBHOOK_ALLOWED_SCHEMES": '["http"]',
    "PARTWAY_WEBHOOK_POLL_SECONDS": "0.1",
    "PARTWAY_WEBHOOK_BACKOFF_BASE_SECONDS": "0.2",
    "PARTWAY_WEBHOOK_BACKOFF_MAX_SECONDS": "1",
    "PARTWAY_WEBHOOK_TIMEOUT_SECONDS": "2",
}


def cli(data_dir: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PARTWAY, "webhooks", *args, "--data-dir", str(data_dir)],
        env=environ(env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def subscribe(data_dir: Path, env: dict[str, str], *args: str) -> tuple[str, str]:
    """(subscription id, secret), as `subscribe` prints them."""
    done = cli(data_dir, env, "subscribe", *args)
    assert done.returncode == 0, done.stderr
    subscription_id, secret = done.stdout.strip().split("\t")
    return subscription_id, secret


def verified(requests: list[dict[str, Any]], secret: str) -> list[dict[str, Any]]:
    """Each request's event, after the reference library accepted its signature."""
    checker = Webhook(secret)
    payloads = []
    for r in requests:
        headers = {k.lower(): v for k, v in r["headers"].items()}
        body = checker.verify(r["body"], headers)
        assert isinstance(body, dict)
        payloads.append(body["payload"])
    return payloads


def database_bytes(data_dir: Path) -> bytes:
    """The SQLite database with its write-ahead log: what a leak of it would reveal."""
    return b"".join(p.read_bytes() for p in sorted(data_dir.glob("partway.db*")))


def test_a_subscription_gets_its_apps_events_signed_with_its_secret_until_unsubscribed(
    tmp_path: Path,
) -> None:
    with receiver(tmp_path / "rx") as rx:
        srv = start_server(tmp_path, LOOPBACK_ALLOWED)
        other_app = dataclasses.replace(
            srv, app_id="app-2", key=create_key(srv.data_dir, "app-2", environ(LOOPBACK_ALLOWED))
        )
        try:
            # Subscribed while the server runs: no restart.
            kinds = "file.created,file.deleted"
            first, first_secret = subscribe(
                srv.data_dir, LOOPBACK_ALLOWED, "--app-id", "app-1", "--url", rx.url + "/first",
                "--events", kinds,
            )  # fmt: skip
            second, second_secret = subscribe(
                srv.data_dir, LOOPBACK_ALLOWED, "--app-id", "app-1", "--url", rx.url + "/second"
            )  # fmt: skip
            with srv.client() as client:
                mine = upload_whole(client, "mine.txt", b"mine")
                create_session(client, "open.txt", 10)  # upload_session.created: not asked for
                assert client.delete(f"/file-storage/files/{mine}").is_success
            with other_app.client() as client:
                theirs = upload_whole(client, "theirs.txt", b"theirs")
            got_first = rx.wait_for(lambda r: len(r) >= 2, "/first")
            rx.wait_for(lambda r: len(r) >= 4, "/second")  # mine's 2 sessions, created, deleted
            listed = cli(srv.data_dir, LOOPBACK_ALLOWED, "subscriptions", "--json")
            leaked = database_bytes(srv.data_dir)

            stopped = cli(srv.data_dir, LOOPBACK_ALLOWED, "unsubscribe", first)
            assert stopped.returncode == 0, stopped.stderr
            with srv.client() as client:
                later = upload_whole(client, "later.txt", b"later")
            # The subscription still there gets it: by then the removed one would have too.
            rx.wait_for(
                lambda r: later in [e["entity_id"] for e in verified(r, second_secret)], "/second"
            )
            time.sleep(1.0)
            after = rx.requests("/first")
        finally:
            stop_server(srv)
            assert_clean_log(srv)
    first_events = verified(got_first, first_secret)
    assert [(e["event_type"], e["entity_id"]) for e in first_events] == [
        ("file-storage.file.created", mine),
        ("file-storage.file.deleted", mine),
    ]
    second_entities = {e["entity_id"] for e in verified(rx.requests("/second"), second_secret)}
    assert mine in second_entities and theirs not in second_entities
    # Each secret signs its own subscription's deliveries only.
    assert not _verifies(got_first, second_secret)
    assert after == got_first  # nothing for the removed subscription after unsubscribe
    # Listing shows the subscriptions, never a secret.
    rows = json.loads(listed.stdout)
    assert {(r["id"], r["app_id"], tuple(r["events"])) for r in rows} == {
        (first, "app-1", tuple(kinds.split(","))),
        (second, "app-1", ()),
    }
    for secret in (first_secret, second_secret):
        key = base64.b64decode(secret.removeprefix("whsec_"))
        assert secret not in listed.stdout
        assert secret.encode() not in leaked and key not in leaked
        assert secret.removeprefix("whsec_").encode() not in leaked


def _verifies(requests: list[dict[str, Any]], secret: str) -> bool:
    try:
        verified(requests, secret)
    except Exception:
        return False
    return True


def test_urls_outside_the_allowed_hosts_are_refused_at_subscribe(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    create_key(data_dir, "app-1", environ({}))
    refused = [
        ({}, "http://127.0.0.1:9/hook"),  # default: https only
        ({}, "https://127.0.0.1:9/hook"),  # default: no loopback
        ({}, "https://10.1.2.3/hook"),  # nor private
        ({}, "https://169.254.169.254/latest/meta-data"),  # nor link-local (cloud metadata)
        ({}, "https://[::1]/hook"),
        (LOOPBACK_ALLOWED, "http://127.0.0.2:9/hook"),  # not the listed address
        (LOOPBACK_ALLOWED, "http://localhost:9/hook"),  # a name not listed
        (LOOPBACK_ALLOWED, "ftp://127.0.0.1/hook"),
    ]
    for env, url in refused:
        done = cli(data_dir, env, "subscribe", "--app-id", "app-1", "--url", url)
        assert done.returncode == 2, (url, done.stdout, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"partway: refused {url}: "), lines
        assert done.stdout == ""
    listed = cli(data_dir, {}, "subscriptions", "--json")
    assert json.loads(listed.stdout) == []


def test_an_address_no_longer_allowed_is_refused_at_delivery(tmp_path: Path) -> None:
    """Checked again at every try (DNS may answer otherwise by then): here the operator has
    taken the address out of the allowed hosts since the subscription was made."""
    with receiver(tmp_path / "rx") as rx:
        srv = start_server(tmp_path, LOOPBACK_ALLOWED)
        subscribe(srv.data_dir, LOOPBACK_ALLOWED, "--app-id", "app-1", "--url", rx.url + "/hook")
        stop_server(srv)
        narrowed = {**LOOPBACK_ALLOWED, "PARTWAY_WEBHOOK_ALLOWED_HOSTS": '["*"]'}
        again = relaunch(srv, tmp_path / "again.log", narrowed)
        try:
            with again.client() as client:
                upload_whole(client, "a.txt", b"a")
            rows = _wait_for_error(again.data_dir, narrowed)
        finally:
            stop_server(again)
    assert rx.requests("/hook") == []
    assert "refused: address 127.0.0.1 is not public" in rows[0]["last_error"], rows


def _wait_for_error(data_dir: Path, env: dict[str, str]) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 20
    while True:
        done = cli(data_dir, env, "list", "--json")
        rows = [r for r in json.loads(done.stdout) if r["last_error"]]
        if rows or time.monotonic() > deadline:
            assert rows, done.stdout
            return rows
        time.sleep(0.3)
