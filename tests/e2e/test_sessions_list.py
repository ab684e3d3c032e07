"""GET /file-storage/upload-sessions: one page at a time, parts as counts and byte ranges."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from typing import Any

import httpx
import pytest

from tests.conftest import Server

from .helpers import SESSIONS, assert_error, create_session, get_session, put_part

# Parts of 4 bytes: a 10-byte session has parts 0-3, 4-7 and 8-9.
HINT = {"x-partway-part-size-hint": "4"}
# Which parts each session gets, by its index modulo 4: none, the first, a gap, all.
PATTERNS = [(), (0,), (0, 2), (0, 1, 2)]


def make_sessions(client: httpx.Client, prefix: str, count: int) -> list[str]:
    """`count` sessions, oldest first: most of 10 bytes, every seventh of unknown size."""
    made = []
    for i in range(count):
        unknown = i % 7 == 0
        session_id = create_session(
            client, f"{prefix}{i:02d}.bin", None if unknown else 10, headers=HINT
        )
        for number in PATTERNS[i % 4]:
            body = b"abcd" if unknown or number < 2 else b"xy"
            assert put_part(client, session_id, number, body).status_code == 200
        made.append(session_id)
    return made


def page(client: httpx.Client, **params: str) -> dict[str, Any]:
    res = client.get(SESSIONS, params=params)
    assert res.status_code == 200, res.text
    body: dict[str, Any] = res.json()
    return body


def walk(client: httpx.Client, limit: str) -> tuple[list[dict[str, Any]], list[int]]:
    """Every listed session, following meta.cursors.next; and the size of each page."""
    seen: list[dict[str, Any]] = []
    sizes: list[int] = []
    params = {"limit": limit}
    while True:
        body = page(client, **params)
        assert body["meta"]["items_on_page"] == len(body["data"])
        seen += body["data"]
        sizes.append(len(body["data"]))
        cursor = body["meta"]["cursors"]["next"]
        if cursor is None:
            assert body["links"]["next"] is None
            return seen, sizes
        assert f"cursor={cursor}" in body["links"]["next"]
        params = {"limit": limit, "cursor": cursor}


def test_pages_list_every_session_once_with_ranges_and_counts(server: Server) -> None:
    with server.client("list-pages") as client:
        made = make_sessions(client, "p", 45)
        seen, sizes = walk(client, "20")
        assert sizes == [20, 20, 5]
        assert [s["id"] for s in seen] == made  # oldest first, each once
        for listed in seen:
            one = get_session(client, listed["id"])
            assert listed["uploaded_byte_range"] == one["uploaded_byte_range"]
            assert listed["uploaded_parts_count"] == len(one["uploaded_parts"])
            assert "uploaded_parts" not in listed
            for field in ("name", "size", "part_size", "expires_at", "state", "success"):
                assert listed[field] == one[field], field
        by_index = {made.index(s["id"]): s for s in seen}
        assert (by_index[1]["uploaded_byte_range"], by_index[1]["uploaded_parts_count"]) == (
            "0-3",
            1,
        )
        assert by_index[2]["uploaded_byte_range"] == "0-3,8-9"
        assert by_index[3]["uploaded_byte_range"] == "0-9"
        assert by_index[0]["uploaded_byte_range"] == "" and by_index[0]["size"] is None
        assert by_index[14]["uploaded_byte_range"] == "0-3,8-11"  # unknown size, a gap
        assert len(page(client)["data"]) == 20  # the default page


def test_a_session_closed_between_pages_makes_no_other_one_skipped(server: Server) -> None:
    with server.client("list-stable") as client:
        made = [create_session(client, f"s{i}.bin", 5) for i in range(5)]
        first = page(client, limit="2")
        assert [s["id"] for s in first["data"]] == made[:2]
        assert client.delete(f"{SESSIONS}/{made[0]}").status_code == 200
        rest = page(client, limit="3", cursor=first["meta"]["cursors"]["next"])
        assert [s["id"] for s in rest["data"]] == made[2:]
        assert rest["meta"]["cursors"]["next"] is None


def test_a_cursor_of_another_consumer_finds_nothing_of_theirs(server: Server) -> None:
    with server.client("list-owner") as owner, server.client("list-other") as other:
        theirs = make_sessions(owner, "o", 6)
        mine = [create_session(other, f"m{i}.bin", 5) for i in range(3)]
        cursor = page(owner, limit="2")["meta"]["cursors"]["next"]
        assert cursor is not None
        listed = [s["id"] for s in page(other, cursor=cursor)["data"]]
        assert not set(listed) & set(theirs)
        assert listed == mine  # made after the owner's, so still past the position


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "201"},
        {"limit": "-1"},
        {"limit": "ten"},
        {"limit": ""},
        {"cursor": "not a cursor"},
        {"cursor": "!!"},
        # A files-list cursor (an offset) is not a sessions-list one.
        {"cursor": base64.urlsafe_b64encode(b"o:20").decode().rstrip("=")},
        {"cursor": base64.urlsafe_b64encode(b"s:yesterday|ses_1").decode().rstrip("=")},
    ],
)
def test_bad_cursor_or_limit_is_400(server: Server, params: dict[str, str]) -> None:
    with server.client("list-bad") as client:
        body = assert_error(client.get(SESSIONS, params=params), 400, "RequestValidationError")
        assert "cursor" in body["message"] or "limit" in body["message"]


def test_cli_lists_every_session_across_pages(server: Server) -> None:
    consumer = "list-cli"
    with server.client(consumer) as client:
        made = make_sessions(client, "c", 25)
    env = {
        **os.environ,
        "PARTWAY_SERVER": server.base_url,
        "PARTWAY_API_KEY": server.key,
        "PARTWAY_APP_ID": server.app_id,
        "PARTWAY_CONSUMER_ID": consumer,
    }
    out = subprocess.run(
        [sys.executable, "-m", "partway", "sessions", "list"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert [line.split()[0] for line in out] == made
    assert "parts=2 bytes=0-3,8-9" in out[2]
