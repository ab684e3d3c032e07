"""Hostile input at the HTTP edge: each request gets a 4xx with the Apideck error body, and leaves
exactly one line in the server's log (its own), with no traceback."""

from __future__ import annotations

import base64
import itertools
import json
import socket
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest

from tests.conftest import Server, json_lines, wait_for_log_event

from .helpers import SESSIONS, assert_error, create_session, upload_whole

FILES = "/file-storage/files"
FOLDERS = "/file-storage/folders"
HINT = "x-partway-part-size-hint"
METADATA = "x-apideck-metadata"
JSON = {"content-type": "application/json"}

_REQUEST_IDS = itertools.count(1)
_NAMES = itertools.count(1)

Call = Callable[..., httpx.Response]


def fresh(stem: str = "n") -> str:
    return f"{stem}-{next(_NAMES)}"


def assert_one_quiet_line(server: Server, request_id: str, mark: int) -> dict[str, Any]:
    """The request's log line says 4xx, and nothing since `mark` is a warning, error or
    traceback (the reply to a client that left goes nowhere: the log is all that is left)."""
    line = wait_for_log_event(server, lambda e: e.get("request_id") == request_id)
    assert 400 <= line["status"] < 500, line
    text = server.log.read_bytes()[mark:].decode(errors="replace")
    assert "Traceback" not in text, text[-3000:]
    events = json_lines(text)
    loud = [e for e in events if e["level"] not in ("debug", "info") or "exception" in e]
    assert not loud, loud[:2]
    assert [e for e in events if e.get("request_id") == request_id] == [line]
    return line


@pytest.fixture
def call(server: Server) -> Iterator[Call]:
    """Send one request, then check the server's log for it (see assert_one_quiet_line)."""
    client = server.client()

    def send(method: str, url: str, **kw: Any) -> httpx.Response:
        request_id = f"hostile-{next(_REQUEST_IDS)}"
        mark = server.log.stat().st_size
        headers = {**kw.pop("headers", {}), "x-request-id": request_id}
        res = client.request(method, url, headers=headers, **kw)
        assert_one_quiet_line(server, request_id, mark)
        return res

    yield send
    client.close()


def session_body(**fields: object) -> dict[str, object]:
    return {"name": fresh(), "parent_folder_id": "root", "size": 1, **fields}


# -- numbers: ASCII digits only, and not too many of them --------------------------------------


@pytest.mark.parametrize("hint", ["²".encode("latin-1"), "9" * 5000], ids=["superscript", "long"])
def test_part_size_hint_takes_ascii_digits_only(call: Call, hint: bytes | str) -> None:
    res = call("POST", SESSIONS, json=session_body(), headers={HINT: hint})
    assert_error(res, 400, "RequestValidationError")


@pytest.mark.parametrize("limit", ["²", "1" * 5000], ids=["superscript", "long"])
def test_list_limit_takes_ascii_digits_only(call: Call, limit: str) -> None:
    assert_error(call("GET", FILES, params={"limit": limit}), 400, "RequestValidationError")


def test_huge_byte_range_is_past_the_end(call: Call, server: Server) -> None:
    with server.client() as client:
        file_id = upload_whole(client, fresh("range"), b"abc")
    res = call("GET", f"{FILES}/{file_id}/download", headers={"range": "bytes=" + "1" * 5000 + "-"})
    assert_error(res, 416, "RangeNotSatisfiableError")


def cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "forged",
    ["o:99999999999999999999", "o:" + "9" * 5000, "o:²", "o:+1", "o: 1"],
    ids=["past-int64", "long", "superscript", "plus", "space"],
)
def test_forged_cursors(call: Call, forged: str) -> None:
    res = call("GET", FILES, params={"cursor": cursor(forged)})
    body = assert_error(res, 400, "RequestValidationError")
    assert "cursor" in body["message"]


# -- JSON: text that cannot be stored, nesting that cannot be parsed ---------------------------


def make_folder(name: str, server: Server) -> str:
    with server.client() as client:
        res = client.post(FOLDERS, json={"name": name, "parent_folder_id": "root"})
    assert res.status_code == 201, res.text
    folder_id: str = res.json()["data"]["id"]
    return folder_id


LONE = b'"\\ud800"'  # a JSON escape of half a UTF-16 pair: json.loads makes it a str


def with_lone(template: str) -> bytes:
    return template.replace("LONE", LONE.decode()).replace("NAME", fresh()).encode()


@pytest.mark.parametrize(
    "body",
    [
        '{"name": "NAME", "parent_folder_id": LONE, "size": 1}',
        '{"name": LONE, "parent_folder_id": "root", "size": 1}',
        '{"name": "NAME", "parent_folder_id": "root", "size": 1, "drive_id": LONE}',
        '{"name": "NAME", "parent_folder_id": "root", "size": 1, "pass_through": '
        '[{"service_id": LONE}]}',
        '{"name": "NAME", "parent_folder_id": "root", "size": 1, "pass_through": '
        '[{"service_id": "x", "extend_object": {"\\udc00": 1}}]}',
    ],
    ids=["parent", "name", "drive", "pass-through", "key"],
)
def test_lone_surrogates_in_session_bodies(call: Call, body: str) -> None:
    res = call("POST", SESSIONS, content=with_lone(body), headers=JSON)
    detail = assert_error(res, 400, "RequestValidationError")
    assert "surrogate" in detail["message"]


def test_surrogates_encoded_as_utf8_bytes(call: Call) -> None:
    # CESU-style bytes of U+D800: json.loads(bytes) would decode them with surrogatepass.
    raw = b'{"name": "a\xed\xa0\x80", "parent_folder_id": "root", "size": 1}'
    assert_error(call("POST", SESSIONS, content=raw, headers=JSON), 400, "RequestValidationError")


@pytest.mark.parametrize(
    "body",
    [
        '{"name": "NAME", "parent_folder_id": "root", "description": LONE}',
        '{"name": "NAME", "parent_folder_id": LONE}',
    ],
    ids=["description", "parent"],
)
def test_lone_surrogates_in_new_folders(call: Call, body: str) -> None:
    res = call("POST", FOLDERS, content=with_lone(body), headers=JSON)
    assert_error(res, 400, "RequestValidationError")


@pytest.mark.parametrize("field", ["name", "description", "parent_folder_id"])
def test_lone_surrogates_in_patches(call: Call, server: Server, field: str) -> None:
    folder_id = make_folder(fresh("patched"), server)
    with server.client() as client:
        file_id = upload_whole(client, fresh("patched"), b"x")
    body = with_lone(f'{{"{field}": LONE}}')
    for url in (f"{FOLDERS}/{folder_id}", f"{FILES}/{file_id}"):
        assert_error(call("PATCH", url, content=body, headers=JSON), 400, "RequestValidationError")


@pytest.mark.parametrize("field", ["name", "description", "parent_folder_id"])
def test_lone_surrogates_in_the_metadata_header(call: Call, field: str) -> None:
    meta = {"name": fresh(), "parent_folder_id": "root", field: "LONE"}
    header = json.dumps(meta).replace('"LONE"', LONE.decode())
    res = call("POST", FILES, content=b"abc", headers={METADATA: header})
    assert_error(res, 400, "RequestValidationError")


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_deep_json_inside_pass_through(call: Call) -> None:
    deep = {"service_id": "x", "extend_object": {"a": "DEEP"}}
    body = json.dumps(session_body(pass_through=[deep])).replace('"DEEP"', nested(1000))
    res = call("POST", SESSIONS, content=body.encode(), headers=JSON)
    detail = assert_error(res, 400, "RequestValidationError")
    assert "nested" in detail["message"]


def test_moderately_nested_pass_through_is_fine(server: Server) -> None:
    deep = {"service_id": "x", "extend_object": {"a": "DEEP"}}
    body = json.dumps(session_body(pass_through=[deep])).replace('"DEEP"', nested(40))
    with server.client() as client:
        res = client.post(SESSIONS, content=body.encode(), headers=JSON)
    # Parsed whole (not refused as too deep); refused only because partway does not apply
    # pass_through on sessions (issue #18: refused by name, never dropped).
    message = assert_error(res, 400, "RequestValidationError")["message"]
    assert "pass_through is not supported" in message and "nested" not in message


@pytest.mark.parametrize("url", [SESSIONS, FOLDERS])
def test_deep_json_bodies(call: Call, url: str) -> None:
    res = call("POST", url, content=nested(100_000).encode(), headers=JSON)
    detail = assert_error(res, 400, "RequestValidationError")
    assert "nested" in detail["message"]


def test_deep_json_in_the_metadata_header(call: Call) -> None:
    # 30,000 levels: as deep as fits in a request head (deeper heads get 431 at the edge).
    res = call("POST", FILES, content=b"abc", headers={METADATA: nested(30_000)})
    detail = assert_error(res, 400, "RequestValidationError")
    assert "nested" in detail["message"]


# -- a client that leaves in the middle of a JSON body -----------------------------------------


def leave_mid_body(server: Server, method: str, path: str) -> None:
    """Announce 1,000 bytes of JSON, send 10, hang up; the server's log must stay quiet."""
    request_id = f"hostile-{next(_REQUEST_IDS)}"
    mark = server.log.stat().st_size
    headers = {**server.headers(), **JSON, "x-request-id": request_id, "content-length": "1000"}
    head = f"{method} {path} HTTP/1.1\r\nHost: partway\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in headers.items()
    )
    url = urlparse(server.base_url)
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(head.encode() + b"\r\n" + b'{"name": "')
    assert_one_quiet_line(server, request_id, mark)


def test_client_leaves_mid_json_body(server: Server) -> None:
    with server.client() as client:
        session_id = create_session(client, fresh("leave"), 1)
    folder_id = make_folder(fresh("leave"), server)
    leave_mid_body(server, "POST", SESSIONS)
    leave_mid_body(server, "POST", f"{SESSIONS}/{session_id}/finish")
    leave_mid_body(server, "POST", FOLDERS)
    leave_mid_body(server, "PATCH", f"{FOLDERS}/{folder_id}")


# -- look-alike names ---------------------------------------------------------------------------

NFC, NFD = "caf\u00e9", "cafe\u0301"  # one name, two spellings


def test_nfc_and_nfd_spellings_are_one_name(call: Call, server: Server) -> None:
    folder_id = make_folder(fresh("accents"), server)
    with server.client() as client:
        session_id = create_session(client, NFD + ".txt", 1, folder_id)
        assert client.get(f"{SESSIONS}/{session_id}").json()["data"]["name"] == NFC + ".txt"
    body = {"name": NFC + ".txt", "parent_folder_id": folder_id, "size": 1}
    assert_error(call("POST", SESSIONS, json=body), 409, "ConflictError")

    with server.client() as client:
        res = client.post(FOLDERS, json={"name": NFC, "parent_folder_id": folder_id})
    assert res.status_code == 201, res.text
    res = call("POST", FOLDERS, json={"name": NFD, "parent_folder_id": folder_id})
    assert_error(res, 409, "ConflictError")
    meta = json.dumps({"name": NFD, "parent_folder_id": folder_id})
    assert_error(call("POST", FILES, content=b"x", headers={METADATA: meta}), 409, "ConflictError")


def test_renames_to_another_spelling_of_a_taken_name_conflict(call: Call, server: Server) -> None:
    folder_id = make_folder(fresh("renames"), server)
    sub_id = make_folder(fresh("sub"), server)
    with server.client() as client:
        upload_whole(client, NFC, b"x", folder_id)
        file_id = upload_whole(client, "other", b"y", folder_id)
        assert client.patch(f"{FOLDERS}/{sub_id}", json={"parent_folder_id": folder_id}).is_success
    assert_error(call("PATCH", f"{FILES}/{file_id}", json={"name": NFD}), 409, "ConflictError")
    assert_error(call("PATCH", f"{FOLDERS}/{sub_id}", json={"name": NFD}), 409, "ConflictError")
    with server.client() as client:
        assert client.patch(f"{FILES}/{file_id}", json={"name": "re" + NFD}).is_success
        assert client.get(f"{FILES}/{file_id}").json()["data"]["name"] == "re" + NFC


INVISIBLE = [
    "\u200b",  # zero-width space
    "\u200c",  # zero-width non-joiner
    "\u200d",  # zero-width joiner
    "\u2060",  # word joiner
    "\ufeff",  # zero-width no-break space (BOM)
    "\u202a",  # left-to-right embedding … right-to-left override
    "\u202b",
    "\u202c",
    "\u202d",
    "\u202e",
    "\u2066",  # left-to-right isolate … pop directional isolate
    "\u2067",
    "\u2068",
    "\u2069",
    "\u200e",  # left-to-right mark
    "\u200f",  # right-to-left mark
    "\u00ad",  # soft hyphen (Cf)
    "\u0085",  # next line (a C1 control, Cc)
]


def assert_names_the_character(res: httpx.Response, char: str) -> None:
    message = assert_error(res, 400, "RequestValidationError")["message"]
    assert f"U+{ord(char):04X}" in message and "invisible" in message, message


@pytest.mark.parametrize("char", INVISIBLE, ids=[f"U+{ord(c):04X}" for c in INVISIBLE])
def test_invisible_characters_in_new_names(call: Call, char: str) -> None:
    name = f"invoice{char}gpj.exe"
    res = call("POST", SESSIONS, json={"name": name, "parent_folder_id": "root", "size": 1})
    assert_names_the_character(res, char)
    res = call("POST", FOLDERS, json={"name": name, "parent_folder_id": "root"})
    assert_names_the_character(res, char)
    meta = json.dumps({"name": name, "parent_folder_id": "root"})
    assert_names_the_character(call("POST", FILES, content=b"x", headers={METADATA: meta}), char)


@pytest.mark.parametrize("char", ["\u202e", "\u200b", "\u2066"], ids=["RLO", "ZWSP", "LRI"])
def test_invisible_characters_in_renames(call: Call, server: Server, char: str) -> None:
    folder_id = make_folder(fresh("visible"), server)
    with server.client() as client:
        file_id = upload_whole(client, fresh("visible"), b"x")
    for url in (f"{FILES}/{file_id}", f"{FOLDERS}/{folder_id}"):
        assert_names_the_character(call("PATCH", url, json={"name": f"a{char}b"}), char)
