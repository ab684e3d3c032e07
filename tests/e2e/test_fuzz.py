"""Fuzzing against a real server: no input, and no sequence of calls, makes it answer 5xx, and
every 4xx carries the Apideck error body.

- Stateless: schemathesis on every operation of partway's own OpenAPI document, positive and
  negative data, the raw-body routes (part upload, single-request upload) and every declared
  header (digest, x-apideck-metadata, Idempotency-Key, x-partway-part-size-hint, Range) included;
  PARTWAY_FUZZ_EXAMPLES examples per operation (default 25).
- The raw-body routes once more with Hypothesis: any header text for digest, part_number and
  x-apideck-metadata (malformed JSON too, which schemathesis does not send for a JSON header),
  against sessions that exist, so that the checks behind the lookup run as well; eight times
  PARTWAY_FUZZ_EXAMPLES examples per route.
- Stateful: schemathesis follows the document's links, e.g. create session → upload part 0 →
  finish → the file's get, update, download and delete; folder → subfolder, upload in it, move
  the parent into it; listings → their first item. PARTWAY_FUZZ_SCENARIOS scenarios (default
  40) of at most PARTWAY_FUZZ_STEPS calls (default 8).
"""

# schemathesis 4 types Case.headers as a CaseInsensitiveDict, Case as generic, and keeps the
# state machine's labels private: this module follows its documented usage instead.
# mypy: disable-error-code="type-arg,assignment,dict-item,arg-type"
# mypy: disable-error-code="var-annotated,union-attr,attr-defined"
from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import unicodedata
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import FlakyStrategyDefinition
from schemathesis.checks import CheckContext, not_a_server_error
from schemathesis.core.transport import Response
from schemathesis.generation.stateful.state_machine import (
    APIStateMachine,
    StepInput,
    StepOutput,
    normalize_name,
)
from schemathesis.specs.openapi.schemas import OpenApiSchema

from tests.conftest import Server

from .helpers import SESSIONS, create_session

EXAMPLES = int(os.environ.get("PARTWAY_FUZZ_EXAMPLES", "25"))
SCENARIOS = int(os.environ.get("PARTWAY_FUZZ_SCENARIOS", "40"))
STEPS = int(os.environ.get("PARTWAY_FUZZ_STEPS", "8"))
FILES = "/file-storage/files"
SERVICE = "x-apideck-service-id"
METADATA = "x-apideck-metadata"
ERROR_KEYS = {"status_code", "error", "type_name", "message", "detail", "ref"}
# Unicode categories no name may hold: control, format (invisible), surrogate.
REFUSED = {"Cc", "Cf", "Cs"}
# Generated part bodies are small: a declared size above this is never filled.
FILLABLE = 1024
# Operations that create something in the folder their body (or metadata header) names.
CREATES = {
    "POST /file-storage/upload-sessions",
    "POST /file-storage/folders",
    "POST /file-storage/files",
}
FUZZ_SETTINGS = settings(deadline=None, suppress_health_check=list(HealthCheck), database=None)


# On uvicorn's stock protocol (the fallback; CI's second e2e pass) the HTTP parser's own
# rejections are uvicorn's plain-text 400, as the README says: not a server fault.
STOCK = os.environ.get("PARTWAY_HTTP_PROTOCOL") == "stock"
STOCK_PARSER_REJECTION = b"Invalid HTTP request received."


def problem(status: int, body: bytes) -> str | None:
    """What is wrong with an answer: a 5xx, or a 4xx without the Apideck error body."""
    if status >= 500:
        return f"server error {status}: {body[:500]!r}"
    if status < 400:
        return None
    try:
        error = json.loads(body)
    except ValueError:
        if STOCK and status == 400 and body.strip() == STOCK_PARSER_REJECTION:
            return None
        return f"{status} without a JSON body: {body[:500]!r}"
    if not isinstance(error, dict):
        return f"{status} body is not an object: {error!r}"
    missing = ERROR_KEYS - set(error)
    if missing:
        return f"{status} error body lacks {sorted(missing)}: {error}"
    if error["status_code"] != status:
        return f"{status} error body says status_code {error['status_code']}"
    return None


def resumable_problem(status: int, body: bytes, content_type: str) -> str | None:
    """What is wrong with a 4xx of the resumable-upload front (/uploads): tus answers text/plain
    `<type>: <message>`, the draft application/problem+json (an object with a title)."""
    media = content_type.split(";")[0].strip()
    if not body:
        return None  # an answer to HEAD
    if media == "text/plain":
        text = body.decode("utf-8", "replace")
        return None if ": " in text else f"{status} text/plain without a type: {text[:300]!r}"
    if media == "application/json":  # the router's own answers (405) are the API's
        return problem(status, body)
    if media == "application/problem+json":
        found = json.loads(body)
        return None if isinstance(found, dict) and "title" in found else f"{status}: {found!r}"
    return f"{status} {media!r} is neither tus nor problem+json: {body[:300]!r}"


def apideck_error_body(ctx: CheckContext, response: Response, case: schemathesis.Case) -> None:
    """A 4xx is an Apideck error: a JSON object with the six keys, its status among them (the
    tus/draft front at /uploads answers in its protocols' own error formats instead)."""
    if 400 <= response.status_code < 500:
        if case.operation.path.startswith("/uploads"):
            kind = response.headers.get("content-type", [""])[0]
            found = resumable_problem(response.status_code, response.content, kind)
        else:
            found = problem(response.status_code, response.content)
        assert found is None, found


CHECKS = [not_a_server_error, apideck_error_body]


@schemathesis.serializer("application/offset+octet-stream", "application/partial-upload")
def resumable_body(ctx: Any, value: Any) -> bytes:
    """The tus and draft append bodies: bytes as generated (a binary string schema)."""
    return value if isinstance(value, bytes) else str(value).encode()


api = schemathesis.pytest.from_fixture("api_schema")


@pytest.fixture(scope="module")
def api_schema(server: Server) -> OpenApiSchema:
    return schemathesis.openapi.from_url(server.base_url + "/openapi.json")


# -- stateless ----------------------------------------------------------------------------------


@api.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_causes_a_server_error(case: schemathesis.Case, server: Server) -> None:
    case.headers = {**(case.headers or {}), **server.headers("fuzz")}
    if (case.method.upper(), case.operation.path) == ("POST", "/uploads"):
        # A draft create answers 104 before its final answer; Python's http.client (under
        # schemathesis) skips only a 100 and takes the 104 for the answer. Draft creates are
        # checked by tests/e2e/test_openapi_shapes.py and test_ietf*.py instead.
        case.headers.pop("Upload-Draft-Interop-Version", None)
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


# -- stateful -----------------------------------------------------------------------------------


def _name(generated: str, serial: int) -> str:
    """The generated name without what no name may hold (the stateless run sends those),
    numbered so that two creates do not collide."""
    kept = "".join(c for c in generated if unicodedata.category(c) not in REFUSED)
    return f"{serial} {kept.replace('/', '').replace(chr(92), '')[:50]}"


def _placed(metadata: object, serial: int) -> object:
    if not isinstance(metadata, dict):
        return metadata
    placed = {k: v for k, v in metadata.items() if k != "drive_id"}
    placed["parent_folder_id"] = "root"
    if isinstance(placed.get("name"), str):
        placed["name"] = _name(placed["name"], serial)
    size = placed.get("size")
    if isinstance(size, int) and size > FILLABLE:
        placed["size"] = None
    return placed


def _start_in_root_folder(case: schemathesis.Case, serial: int) -> None:
    """A positive create that starts a scenario makes something that can exist: in the root
    folder of the default drive, under a name the server takes (a random folder or drive id is
    a 404, most generated names a 400: the scenario would end there), and an upload larger than
    generated parts can fill is left open-ended (size null), so that it can be finished."""
    if case.operation.label == "POST /file-storage/files":
        headers = case.headers or {}
        try:
            metadata = json.loads(headers.get(METADATA, ""))
        except ValueError:
            return
        case.headers = {**headers, METADATA: json.dumps(_placed(metadata, serial))}
    else:
        case.body = _placed(case.body, serial)


def test_sequences_cause_no_server_error(api_schema: OpenApiSchema, server: Server) -> None:
    seen: Counter[tuple[str, int]] = Counter()
    failures: list[str] = []
    scenarios = creates = followed = 0
    tenancy = server.headers("fuzz-stateful")

    base = api_schema.as_state_machine()
    # Scenarios start with a create or a listing: a first call on a random id is a 404 (the
    # stateless run sends those), a step spent on nothing; the one drive is no start either.
    # The rules that would start with those are hidden, and the labels that schemathesis'
    # scheduler waits on to be called are dropped with them (else, once the remaining starts
    # have been used, it would wait for them forever: "no progress can be made").
    blind = {
        operation.label
        for operation in (result.ok() for result in api_schema.get_all_operations())
        if operation.path_parameters or operation.path == "/file-storage/drives"
    }
    hidden = {normalize_name(f"RANDOM -> {label}") for label in blind}
    starts = base.root_rules - hidden
    assert starts, "no scenario could start"
    chooser = type(
        "Chooser",
        (base,),
        {
            **dict.fromkeys(hidden & base.root_rules),
            "root_rules": starts,
            "_root_labels": base._root_labels - blind,
        },
    )

    class Workflow(chooser):  # type: ignore[misc,valid-type]
        def setup(self) -> None:
            nonlocal scenarios
            scenarios += 1

        def step(self, input: StepInput) -> StepOutput:
            nonlocal creates, followed
            case = input.case
            positive = case.meta is not None and case.meta.generation.mode.is_positive
            if input.transition is None and positive and case.operation.label in CREATES:
                creates += 1
                _start_in_root_folder(case, creates)
            output: StepOutput = super().step(input)
            if input.transition is not None and input.is_applied:
                followed += output.response.status_code < 300
            return output

        def before_call(self, case: schemathesis.Case) -> None:
            # The default storage service: an unknown one is a 400 (the stateless run sends
            # those), and a scenario's calls must reach the same store.
            generated = {k: v for k, v in (case.headers or {}).items() if k.lower() != SERVICE}
            case.headers = {**generated, **tenancy}

        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            return {"base_url": server.base_url, "timeout": 30}

        def after_call(self, response: Response, case: schemathesis.Case) -> None:
            super().after_call(response, case)
            seen[case.operation.label, response.status_code] += 1

        def validate_response(
            self, response: Response, case: schemathesis.Case, **kwargs: Any
        ) -> None:
            try:
                case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs)
            except Exception as exc:
                failures.append(f"{case.operation.label}: {exc}")
                raise

    machine: type[APIStateMachine] = Workflow
    while scenarios < SCENARIOS:
        # A scenario that began like an earlier one but met other answers (the server's state
        # moved on, and schemathesis picks some values with true randomness, outside
        # Hypothesis' record) ends the run: schemathesis' own runner goes on after that, and so
        # does this test, with the scenarios left. Failed checks raise other errors.
        with contextlib.suppress(FlakyStrategyDefinition):
            machine.run(
                settings=settings(
                    max_examples=SCENARIOS - scenarios,
                    stateful_step_count=STEPS,
                    phases=[Phase.generate],
                    database=None,
                    deadline=None,
                    suppress_health_check=list(HealthCheck),
                )
            )
    print(f"\n{scenarios} scenarios; {followed} links led to a success")
    for (label, status), count in sorted(seen.items()):
        print(f"{count:5d}  {status}  {label}")
    assert not failures, failures[0]
    assert followed, "no link led to a success: no scenario went past its first call"
