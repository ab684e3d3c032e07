"""Webhooks over real processes: `partway serve` delivers its durable events to a receiver
process, signed (checked with the `standardwebhooks` reference library), in order per entity,
retried while the receiver fails, dead-lettered after the window, and once with two servers on
one PostgreSQL database."""

from __future__ import annotations

import json
import subprocess
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from standardwebhooks.webhooks import Webhook

from tests.backends import new_database
from tests.conftest import (
    PARTWAY,
    assert_clean_log,
    free_port,
    launch,
    relaunch,
    start_server,
    stop_server,
)

from .helpers import create_session, metric, upload_whole
from .test_folder_copy import FILES, FOLDERS, folder, put_file
from .webhook_receiver import SECRET, environ, events, receiver, webhook_env

HOOK = "/hook"


def verified(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each request's event, after the reference library accepted its signature."""
    checker = Webhook(SECRET)
    payloads = []
    for r in requests:
        headers = {k.lower(): v for k, v in r["headers"].items()}
        body = checker.verify(r["body"], headers)
        assert isinstance(body, dict)
        payloads.append(body["payload"])
    return payloads


def delivered(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in requests if r["status"] < 300]


def test_events_arrive_signed_and_shaped_like_apideck(tmp_path: Path) -> None:
    with receiver(tmp_path / "rx") as rx:
        srv = start_server(tmp_path, webhook_env(rx.url + HOOK))
        try:
            with srv.client() as client:
                file_id = upload_whole(client, "a.txt", b"hello")
                session_id = create_session(client, "b.txt", 10)
                assert client.delete(f"/file-storage/upload-sessions/{session_id}").is_success
                assert client.delete(f"/file-storage/files/{file_id}").is_success
            got = rx.wait_for(lambda r: len(r) >= 5, HOOK)
            assert metric(srv.base_url, "partway_webhooks_delivered_total") >= 5
            for gauge in ("queued", "dead", "oldest_pending_seconds"):
                metric(srv.base_url, f"partway_webhooks_{gauge}")
        finally:
            stop_server(srv)
            assert_clean_log(srv)
    payloads = verified(got)
    kinds = [p["event_type"] for p in payloads]
    assert kinds.count("file-storage.upload_session.created") == 2
    assert "file-storage.file.created" in kinds
    assert "file-storage.upload_session.aborted" in kinds
    # A file's events in the order they happened.
    about_file = [p["event_type"] for p in payloads if p["entity_id"] == file_id]
    assert about_file == ["file-storage.file.created", "file-storage.file.deleted"]
    created = next(p for p in payloads if p["entity_id"] == session_id)
    assert created["entity_type"] == "upload_session"
    assert created["service_id"] == "local"
    assert created["unified_api"] == "file-storage"
    assert created["consumer_id"]
    assert created["occurred_at"].endswith("Z")
    # One id per event, whatever the tries: receivers drop duplicates by it.
    ids = [r["headers"]["webhook-id"] for r in got]
    assert len(set(ids)) == len(ids)


def test_folder_and_file_changes_and_copies_are_events(tmp_path: Path) -> None:
    with receiver(tmp_path / "rx") as rx:
        env = webhook_env(rx.url + HOOK)
        env["PARTWAY_WEBHOOKS"] = env["PARTWAY_WEBHOOKS"].replace(
            '"secret"',
            '"events": ["file.created", "file.updated", "folder.created", '
            '"folder.updated", "folder.deleted"], "secret"',
        )
        srv = start_server(tmp_path, env)
        try:
            with srv.client() as client:
                top = folder(client, "top")
                file_id = put_file(client, "a.txt", top, b"abc")
                renamed = client.patch(f"{FILES}/{file_id}", json={"name": "b.txt"})
                assert renamed.is_success, renamed.text
                assert client.patch(f"{FOLDERS}/{top}", json={"name": "top2"}).is_success
                res = client.post(
                    f"{FOLDERS}/{top}/copy", json={"parent_folder_id": "root", "name": "copy"}
                )
                assert res.status_code == 200, res.text
                empty = folder(client, "empty")
                assert client.delete(f"{FOLDERS}/{empty}").is_success
            got = rx.wait_for(lambda r: len(r) >= 8, HOOK)
        finally:
            stop_server(srv)
            assert_clean_log(srv)
    seen = [(p["event_type"].removeprefix("file-storage."), p["entity_id"]) for p in verified(got)]
    copy_id = res.json()["data"]["id"]
    copied_file = next(e for k, e in seen if k == "file.created" and e != file_id)
    # Ordered per entity only: different entities are delivered concurrently.
    per_entity: dict[str, list[str]] = defaultdict(list)
    for kind, entity in seen:
        per_entity[entity].append(kind)
    assert per_entity == {
        top: ["folder.created", "folder.updated"],
        file_id: ["file.created", "file.updated"],
        copy_id: ["folder.created"],
        copied_file: ["file.created"],
        empty: ["folder.created", "folder.deleted"],
    }


def test_failures_are_retried_in_order_then_dead_lettered_and_retried_by_hand(
    tmp_path: Path,
) -> None:
    with receiver(tmp_path / "rx") as rx:
        rx.behave({HOOK: {"status": 503}})
        env = webhook_env(rx.url + HOOK, PARTWAY_WEBHOOK_RETRY_WINDOW_SECONDS="3")
        srv = start_server(tmp_path, env)
        try:
            with srv.client() as client:
                file_id = upload_whole(client, "a.txt", b"hello")
                assert client.delete(f"/file-storage/files/{file_id}").is_success
            # Tried again and again until the window closes: dead letters.
            dead = {row["kind"]: row for row in _wait_listed(srv.data_dir, env, "dead", 3)}
            assert metric(srv.base_url, "partway_webhooks_failed_total", endpoint="main") >= 6
            assert dead["file.created"]["attempts"] >= 2
            assert dead["upload_session.created"]["attempts"] >= 2
            # In order per entity: the file's deletion waited until its creation was given up.
            failed = rx.requests(HOOK)
            kinds = [p["event_type"] for p in events(failed)]
            last_created = max(i for i, k in enumerate(kinds) if k == "file-storage.file.created")
            first_deleted = kinds.index("file-storage.file.deleted")
            assert first_deleted > last_created, kinds
            # The receiver recovers; the operator retries the dead letters by hand.
            rx.behave({})
            out = _cli(srv.data_dir, env, "webhooks", "retry")
            assert "3 dead deliveries queued again" in out
            ok = rx.wait_for(lambda r: len(delivered(r)) >= 3, HOOK)
        finally:
            stop_server(srv)
            assert_clean_log(srv)
    assert Counter(p["event_type"] for p in verified(delivered(ok))) == {
        "file-storage.upload_session.created": 1,
        "file-storage.file.created": 1,
        "file-storage.file.deleted": 1,
    }


def test_replay_delivers_past_events_again(tmp_path: Path) -> None:
    with receiver(tmp_path / "rx") as rx:
        env = webhook_env(rx.url + HOOK)
        srv = start_server(tmp_path, env)
        try:
            with srv.client() as client:
                upload_whole(client, "a.txt", b"hello")
            rx.wait_for(lambda r: len(r) >= 2, HOOK)
            assert "2 deliveries queued" in _cli(
                srv.data_dir, env, "webhooks", "replay", "--from", "1"
            )
            got = rx.wait_for(lambda r: len(r) >= 4, HOOK)
        finally:
            stop_server(srv)
            assert_clean_log(srv)
    ids = Counter(r["headers"]["webhook-id"] for r in got)
    assert sorted(ids.values()) == [2, 2]


def test_two_servers_on_postgresql_deliver_each_event_once(tmp_path: Path) -> None:
    database = new_database()
    with receiver(tmp_path / "rx") as rx:
        env = {**webhook_env(rx.url + HOOK), "PARTWAY_DATABASE_URL": database}
        first = start_server(tmp_path, env)
        second = launch(first.data_dir, free_port(), tmp_path / "second.log", env)
        try:
            with first.client() as client:
                files = [upload_whole(client, f"f{n}.txt", b"x" * n) for n in range(20)]
                for file_id in files[:10]:
                    assert client.delete(f"/file-storage/files/{file_id}").is_success
            got = rx.wait_for(lambda r: len(r) >= 50, HOOK)
        finally:
            stop_server(first)
            second.terminate()
            second.wait(10)
    ids = Counter(r["headers"]["webhook-id"] for r in got)
    assert len(ids) == 50 and set(ids.values()) == {1}, ids.most_common(3)
    per_entity: dict[str, list[str]] = defaultdict(list)
    for p in verified(got):
        per_entity[p["entity_id"]].append(p["event_type"])
    for file_id in files[:10]:
        assert per_entity[file_id] == ["file-storage.file.created", "file-storage.file.deleted"]


def test_two_servers_on_one_sqlite_data_dir_deliver_each_event_once(tmp_path: Path) -> None:
    """Both servers take events from clients and deliver: claims on SQLite are the one write
    transaction, so no delivery is made by both (a clean run: nobody is killed)."""
    with receiver(tmp_path / "rx") as rx:
        env = webhook_env(rx.url + HOOK)
        first = start_server(tmp_path, env)
        second = relaunch(first, tmp_path / "second.log", env)
        try:
            for n in range(40):  # 80 events, half made by each server
                with (first if n % 2 else second).client() as client:
                    upload_whole(client, f"f{n}.txt", b"x" * n)
            got = rx.wait_for(lambda r: len(r) >= 80, HOOK)
            time.sleep(2.0)  # a second delivery of anything would arrive meanwhile
            got = rx.requests(HOOK)
            split = [
                metric(s.base_url, "partway_webhooks_delivered_total") for s in (first, second)
            ]
        finally:
            for server in (first, second):
                stop_server(server)
                assert_clean_log(server)
    ids = Counter(r["headers"]["webhook-id"] for r in got)
    assert set(ids) == {f"msg_{n}" for n in range(1, 81)}
    assert set(ids.values()) == {1}, ids.most_common(3)
    assert sum(split) == 80
    print(f"\ndelivered by each server: {split[0]:.0f} and {split[1]:.0f}")


def endpoints_env(rx_url: str, *names: str) -> dict[str, str]:
    """Quick retries, and one endpoint per name at the receiver's /<name>."""
    env = webhook_env(rx_url + HOOK)
    urls = {name: {"url": f"{rx_url}/{name}", "secret": SECRET} for name in names}
    return {**env, "PARTWAY_WEBHOOKS": json.dumps(urls)}


def test_a_new_endpoint_starts_at_the_end_and_a_removed_one_is_stopped(tmp_path: Path) -> None:
    with receiver(tmp_path / "rx") as rx:
        rx.behave({"/gone": {"status": 503}})  # never accepts: retried while configured
        env = endpoints_env(rx.url, "main", "gone")
        srv = start_server(tmp_path, env)
        try:
            with srv.client() as client:
                upload_whole(client, "a.txt", b"a")  # events 1 and 2
            rx.wait_for(lambda r: len(r) >= 2, "/main")
            rx.wait_for(lambda r: len(r) >= 2, "/gone")
        finally:
            stop_server(srv)
        # "gone" is taken out of the settings and "late" is added.
        env = endpoints_env(rx.url, "main", "late")
        again = relaunch(srv, tmp_path / "again.log", env)
        tries_to_gone = len(rx.requests("/gone"))
        try:
            dead = _cli(srv.data_dir, env, "webhooks", "list", "--state", "dead", "--json")
            with again.client() as client:
                upload_whole(client, "b.txt", b"b")  # events 3 and 4
            late = rx.wait_for(lambda r: len(r) >= 2, "/late")
            rx.wait_for(lambda r: len(r) >= 4, "/main")
            time.sleep(1.0)  # time for more tries, were any to be made
        finally:
            stop_server(again)
            assert_clean_log(again)
    # The new endpoint is told what happened since it was added, not the history.
    assert sorted(r["headers"]["webhook-id"] for r in late) == ["msg_3", "msg_4"]
    assert len(rx.requests("/late")) == 2
    # The removed endpoint's deliveries stopped: dead letters, and no more tries.
    stopped = [row for row in json.loads(dead) if row["endpoint"] == "gone"]
    assert len(stopped) == 2
    assert all(row["last_error"] == "endpoint removed from the settings" for row in stopped)
    assert len(rx.requests("/gone")) == tries_to_gone


def _cli(data_dir: Path, env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [*PARTWAY, *args, "--data-dir", str(data_dir)],
        env=environ(env),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def _wait_listed(
    data_dir: Path, env: dict[str, str], state: str, count: int, timeout: float = 20.0
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        rows: list[dict[str, Any]] = json.loads(
            _cli(data_dir, env, "webhooks", "list", "--state", state, "--json")
        )
        if len(rows) >= count or time.monotonic() > deadline:
            assert len(rows) >= count, rows
            return rows
        time.sleep(0.3)
