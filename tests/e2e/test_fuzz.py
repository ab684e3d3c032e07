"""Fuzzing against a real server: no input makes it answer 5xx, and every 4xx carries the
Apideck error body.

- Stateless: schemathesis on every operation of partway's own OpenAPI document, positive and
  negative data, the raw-body routes (part upload, single-request upload) and every declared
  header (digest, x-apideck-metadata, Idempotency-Key, x-partway-part-size-hint, Range) included;
  PARTWAY_FUZZ_EXAMPLES examples per operation (default 25).
- The raw-body routes once more with Hypothesis: any header text for digest, part_number and
  x-apideck-metadata (malformed JSON too, which schemathesis does not send for a JSON header),
  against sessions that exist, so that the checks behind the lookup run as well; eight times
  PARTWAY_FUZZ_EXAMPLES examples per route.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import CheckContext, not_a_server_error
from schemathesis.core.transport import Response
from schemathesis.specs.openapi.schemas import OpenApiSchema

from tests.conftest import Server

from .helpers import SESSIONS, create_session

EXAMPLES = int(os.environ.get("PARTWAY_FUZZ_EXAMPLES", "25"))
FILES = "/file-storage/files"
ERROR_KEYS = {"status_code", "error", "type_name", "message", "detail", "ref"}
FUZZ_SETTINGS = settings(deadline=None, suppress_health_check=list(HealthCheck), database=None)


def problem(status: int, body: bytes) -> str | None:
    """What is wrong with an answer: a 5xx, or a 4xx without the Apideck error body."""
    if status >= 500:
        return f"server error {status}: {body[:500]!r}"
    if status < 400:
        return None
    try:
        error = json.loads(body)
    except ValueError:
        return f"{status} without a JSON body: {body[:500]!r}"
    if not isinstance(error, dict):
        return f"{status} body is not an object: {error!r}"
    missing = ERROR_KEYS - set(error)
    if missing:
        return f"{status} error body lacks {sorted(missing)}: {error}"
    if error["status_code"] != status:
        return f"{status} error body says status_code {error['status_code']}"
    return None


def apideck_error_body(ctx: CheckContext, response: Response, case: schemathesis.Case) -> None:
    """A 4xx is an Apideck error: a JSON object with the six keys, its status among them."""
    if 400 <= response.status_code < 500:
        found = problem(response.status_code, response.content)
        assert found is None, found


CHECKS = [not_a_server_error, apideck_error_body]

api = schemathesis.pytest.from_fixture("api_schema")


@pytest.fixture(scope="module")
def api_schema(server: Server) -> OpenApiSchema:
    return schemathesis.openapi.from_url(server.base_url + "/openapi.json")


# -- stateless ----------------------------------------------------------------------------------


@api.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_causes_a_server_error(case: schemathesis.Case, server: Server) -> None:
    case.headers = {**(case.headers or {}), **server.headers("fuzz")}
    case.call_and_validate(base_url=server.base_url, checks=CHECKS, timeout=30)


# -- the raw-body routes, any header text ------------------------------------------------------

# What a header value can hold on the wire (h11 refuses the rest before sending), as latin-1.
HEADER_TEXT = st.text(
    st.sampled_from(["\t", *map(chr, range(0x20, 0x7F)), *map(chr, range(0x80, 0x100))]),
    max_size=80,
).map(str.strip)
BASE64 = st.binary(max_size=40).map(lambda b: base64.b64encode(b).decode())
ALGORITHM = st.sampled_from(["sha", "sha-1", "SHA", "sha1", "sha-256", "sha256", "md5", "", "x"])
DIGEST_ITEM = st.builds("{}={}".format, ALGORITHM, st.one_of(BASE64, HEADER_TEXT))
DIGEST = st.one_of(
    st.none(),
    HEADER_TEXT,
    DIGEST_ITEM,
    st.lists(DIGEST_ITEM, min_size=2, max_size=4).map(", ".join),
)
BODY = st.binary(max_size=300)
PART_NUMBER = st.one_of(
    st.none(),
    st.integers(-3, 10_010).map(str),
    st.floats().map(repr),
    st.sampled_from(["", "3.0", "1e3", "0x1", "٣", "²", "1_0", " 3", "inf", "nan", "-0", "0" * 40]),
    st.text(max_size=20),
)
JSON_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)
CREATE_FILE = st.fixed_dictionaries(
    {
        "name": st.one_of(st.uuids().map(str), st.text(max_size=30)),
        "parent_folder_id": st.sampled_from(["root", "fld_missing", "", "../root"]),
    },
    optional={
        "description": st.one_of(st.none(), st.text(max_size=30), st.integers()),
        "drive_id": st.sampled_from(["default", "other", None]),
        "size": st.integers(),
        "pass_through": JSON_VALUE,
    },
).map(json.dumps)
METADATA_TEXT = st.one_of(
    st.none(),
    HEADER_TEXT,
    CREATE_FILE,
    CREATE_FILE.map(lambda text: text[: len(text) // 2].strip()),
    JSON_VALUE.map(json.dumps),
)


def _headers(**values: str | None) -> dict[str, bytes]:
    return {
        name.replace("_", "-"): value.encode("latin-1")
        for name, value in values.items()
        if value is not None
    }


def _send(client: httpx.Client, method: str, url: str, **kw: Any) -> None:
    res = client.request(method, url, **kw)
    found = problem(res.status_code, res.content)
    assert found is None, f"{method} {url} {kw.get('params')} {kw.get('headers')}: {found}"


@pytest.fixture(scope="module")
def raw_client(server: Server) -> Iterator[httpx.Client]:
    with server.client("fuzz-raw") as client:
        yield client


@pytest.fixture(scope="module")
def sessions(raw_client: httpx.Client) -> list[str]:
    """Sessions to send parts to: size unknown, one short part, a finished one, none at all."""
    finished = create_session(raw_client, "finished.bin", 0)
    assert raw_client.post(f"{SESSIONS}/{finished}/finish").status_code == 201
    return [
        create_session(raw_client, "unknown.bin", None),
        create_session(raw_client, "short.bin", 100),
        finished,
        "ses_missing",
    ]


@given(
    target=st.integers(0, 3),
    part_number=PART_NUMBER,
    body=BODY,
    digest=DIGEST,
    digest_matches=st.booleans(),
)
@settings(FUZZ_SETTINGS, max_examples=EXAMPLES * 8)
def test_part_uploads_take_any_header_text(
    raw_client: httpx.Client,
    sessions: list[str],
    target: int,
    part_number: str | None,
    body: bytes,
    digest: str | None,
    digest_matches: bool,
) -> None:
    if digest_matches:
        digest = "sha=" + base64.b64encode(hashlib.sha1(body).digest()).decode()
    _send(
        raw_client,
        "PUT",
        f"{SESSIONS}/{sessions[target]}",
        params={} if part_number is None else {"part_number": part_number},
        content=body,
        headers={"content-type": "application/octet-stream", **_headers(digest=digest)},
    )


@given(metadata=METADATA_TEXT, body=BODY, digest=DIGEST, digest_matches=st.booleans())
@settings(FUZZ_SETTINGS, max_examples=EXAMPLES * 8)
def test_small_uploads_take_any_metadata(
    raw_client: httpx.Client,
    metadata: str | None,
    body: bytes,
    digest: str | None,
    digest_matches: bool,
) -> None:
    if digest_matches:
        digest = "sha-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode()
    headers = {"content-type": "application/octet-stream"}
    _send(
        raw_client,
        "POST",
        FILES,
        content=body,
        headers={**headers, **_headers(x_apideck_metadata=metadata, digest=digest)},
    )
