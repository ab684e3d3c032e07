"""Blocking hooks over real processes: `partway serve` asks a receiver process before creates,
finishes and downloads; the hook refuses (the client sees its message), changes a create, or is
dead or slow, and the fail policy decides."""

from __future__ import annotations

import base64
import json
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from standardwebhooks.webhooks import Webhook

from partway.http.tus_wire import parse_metadata
from tests.conftest import assert_clean_log, free_port, start_server, stop_server

from .helpers import SESSIONS, create_session, download, finish, get_session, put_part, upload_whole
from .test_shared_links import share
from .webhook_receiver import SECRET, Receiver, receiver


def hooks_env(url: str, fail: str = "closed", timeout: float = 2.0) -> dict[str, str]:
    hooks = {
        kind: {"url": f"{url}/{kind}", "secret": SECRET, "fail": fail, "timeout_seconds": timeout}
        for kind in ("pre-create", "pre-finish", "pre-access")
    }
    return {"PARTWAY_HOOKS": json.dumps(hooks)}


def refuse(status: int, message: str) -> dict[str, Any]:
    return {"status": 200, "body": {"allow": False, "status": status, "message": message}}


def if_name(pattern: str, answer: dict[str, Any]) -> dict[str, Any]:
    """The receiver answers so when the event's name matches, else allows."""
    return {"when": {"field": "name", "pattern": pattern}, "then": answer}


def test_hooks_refuse_and_change_creates_finishes_and_downloads(tmp_path: Path) -> None:
    with receiver(tmp_path / "rx") as rx:
        srv = start_server(tmp_path, hooks_env(rx.url))
        try:
            with srv.client() as client:
                _pre_create(rx, client)
                _pre_create_metadata(rx, client)
                _pre_finish(rx, client)
                _pre_access(rx, client)
        finally:
            stop_server(srv)
            assert_clean_log(srv)
    # Every hook request is signed like a webhook.
    checker = Webhook(SECRET)
    for r in rx.requests():
        if r["path"] != "/ping":
            checker.verify(r["body"], {k.lower(): v for k, v in r["headers"].items()})


def _pre_create(rx: Receiver, client: httpx.Client) -> None:
    # Refused by name pattern; the hook's message reaches the client.
    rx.behave(
        {
            "/pre-create": {
                "when": {"field": "name", "pattern": r"\.exe$"},
                "then": refuse(403, "no executables"),
            }
        }
    )
    res = client.post(SESSIONS, json={"name": "setup.exe", "parent_folder_id": "root", "size": 3})
    assert res.status_code == 403, res.text
    assert res.json()["message"] == "no executables"
    assert res.json()["type_name"] == "ForbiddenError"
    asked = rx.requests("/pre-create")[-1]
    event = json.loads(asked["body"])
    assert event["type"] == "pre-create" and event["event"]["name"] == "setup.exe"
    assert event["event"]["size"] == 3 and event["event"]["consumer_id"]
    # Changed: another name and a smaller part size.
    changes = {"name": "renamed.txt", "part_size": 1024 * 1024}
    rx.behave({"/pre-create": {"status": 200, "body": {"allow": True, "changes": changes}}})
    session_id = create_session(client, "original.txt", 3 * 1024 * 1024)
    session = get_session(client, session_id)
    assert session["name"] == "renamed.txt" and session["part_size"] == 1024 * 1024
    rx.behave({})


def _pre_create_metadata(rx: Receiver, client: httpx.Client) -> None:
    # The hook sees the client's metadata (tus Upload-Metadata) and sets its own, which the
    # session keeps and shows (tus HEAD, and the session's `metadata`).
    tagged = {"department": "legal", "scan": "pending"}
    rx.behave({"/pre-create": {"status": 200, "body": {"changes": {"metadata": tagged}}}})
    session_id = create_session(client, "contract.pdf", 5)
    assert get_session(client, session_id)["metadata"] == tagged
    assert put_part(client, session_id, 0, b"hello").status_code == 200
    assert finish(client, session_id).status_code == 201
    tus = {"Tus-Resumable": "1.0.0"}
    res = client.post(
        "/uploads",
        headers={
            **tus,
            "Upload-Length": "3",
            "Upload-Metadata": tus_pairs(filename="t.txt", by="cli"),
        },
    )
    assert res.status_code == 201, res.text
    asked = json.loads(rx.requests("/pre-create")[-1]["body"])["event"]
    assert asked["metadata"] == {"filename": "t.txt", "by": "cli"}
    head = client.head(res.headers["location"], headers=tus)
    assert parse_metadata(head.headers["upload-metadata"]) == tagged
    # Metadata no client could send (a key with a space) is a broken hook: fail closed, 503.
    rx.behave({"/pre-create": {"status": 200, "body": {"changes": {"metadata": {"a b": "c"}}}}})
    res = client.post(SESSIONS, json={"name": "x.txt", "parent_folder_id": "root", "size": 1})
    assert res.status_code == 503, res.text
    rx.behave({})


def tus_pairs(**values: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


def _pre_finish(rx: Receiver, client: httpx.Client) -> None:
    # A virus scanner refusing one file: the session stays open and can be finished later.
    rx.behave(
        {
            "/pre-finish": {
                "when": {"field": "name", "pattern": "eicar"},
                "then": refuse(422, "virus found"),
            }
        }
    )
    session_id = create_session(client, "eicar.txt", 5)
    assert put_part(client, session_id, 0, b"hello").status_code == 200
    res = finish(client, session_id)
    assert res.status_code == 422, res.text
    assert res.json()["message"] == "virus found"
    assert get_session(client, session_id)["uploaded_parts"] == [0]
    clean = upload_whole(client, "clean.txt", b"clean")  # other files finish meanwhile
    assert clean
    rx.behave({})  # the scanner changed its mind
    res = finish(client, session_id)
    assert res.status_code == 201, res.text


def _pre_access(rx: Receiver, client: httpx.Client) -> None:
    file_id = upload_whole(client, "secret.txt", b"secret")
    _, url = share(client, file_id, scope="public")
    rx.behave({"/pre-access": refuse(403, "not today")})
    res = download(client, file_id)
    assert res.status_code == 403 and res.json()["message"] == "not today"
    via_link = httpx.get(url)
    assert via_link.status_code == 403, via_link.text
    kinds = [json.loads(r["body"])["event"]["via"] for r in rx.requests("/pre-access")]
    assert kinds[-2:] == ["download", "shared_link"]
    rx.behave({})
    assert download(client, file_id).content == b"secret"
    assert httpx.get(url).content == b"secret"


def test_a_dead_hook_fails_open_or_closed_as_configured(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    for fail, expected in (("open", 201), ("closed", 503)):
        srv = start_server(tmp_path / fail, hooks_env(dead, fail=fail, timeout=0.5))
        try:
            with srv.client() as client:
                res = client.post(
                    SESSIONS, json={"name": "a.txt", "parent_folder_id": "root", "size": 1}
                )
                assert res.status_code == expected, res.text
                if fail == "closed":
                    assert res.json()["type_name"] == "ServiceUnavailableError"
                    assert res.headers["retry-after"]
        finally:
            stop_server(srv)
            assert_clean_log(srv)


def test_a_slow_hook_blocks_only_its_own_requests(tmp_path: Path) -> None:
    with receiver(tmp_path / "rx") as rx:
        srv = start_server(tmp_path, hooks_env(rx.url, fail="open", timeout=3.0))
        try:
            with srv.client() as client:
                file_id = upload_whole(client, "a.txt", b"abc")
                rx.behave({"/pre-access": {"delay": 2.5}})
                slow: list[float] = []

                def read() -> None:
                    started = time.monotonic()
                    with srv.client() as other:
                        assert download(other, file_id).content == b"abc"
                    slow.append(time.monotonic() - started)

                readers = [threading.Thread(target=read) for _ in range(4)]
                for t in readers:
                    t.start()
                time.sleep(0.3)
                started = time.monotonic()
                create_session(client, "b.txt", 3)  # its hook answers at once
                assert time.monotonic() - started < 1.0
                for t in readers:
                    t.join()
                assert all(2.0 < s < 3.5 for s in slow), slow
        finally:
            stop_server(srv)
            assert_clean_log(srv)
