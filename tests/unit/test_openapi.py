"""partway's OpenAPI document: valid OpenAPI 3.1, and its links name what exists."""

from __future__ import annotations

import json
import re
from typing import Any

from openapi_spec_validator import validate

from partway.http.openapi import document

METHODS = {"get", "put", "post", "delete", "patch"}


def operations() -> dict[str, dict[str, Any]]:
    return {
        op["operationId"]: op
        for item in document()["paths"].values()
        for method, op in item.items()
        if method in METHODS
    }


def declared(op: dict[str, Any]) -> set[tuple[str, str]]:
    return {(p["in"], p["name"]) for p in op["parameters"]}


def test_the_document_is_valid_openapi_3_1() -> None:
    validate(document())


def test_links_name_operations_and_parameters_that_exist() -> None:
    ops = operations()
    links = 0
    for source in ops.values():
        for response in source["responses"].values():
            for name, link in response.get("links", {}).items():
                links += 1
                target = ops[link["operationId"]]
                for key, expression in link.get("parameters", {}).items():
                    where, _, param = key.partition(".")
                    assert (where, param) in declared(target), (name, key)
                    used = re.fullmatch(r"\$request\.(path|query|header)\.(.+)", expression)
                    if used:
                        assert used.groups() in declared(source), (name, expression)
                if "requestBody" in link:
                    assert "requestBody" in target, name
    assert links >= 30


def test_the_raw_body_routes_declare_their_headers() -> None:
    ops = operations()
    assert ("header", "digest") in declared(ops["uploadSessionsUpload"])
    assert ("query", "part_number") in declared(ops["uploadSessionsUpload"])
    assert {("header", "digest"), ("header", "x-apideck-metadata")} <= declared(ops["filesUpload"])
    creates = declared(ops["uploadSessionsAdd"])
    assert {("header", "idempotency-key"), ("header", "x-partway-part-size-hint")} <= creates


def test_the_direct_routes_are_documented_with_closed_shapes() -> None:
    """Issue #20's routes (http/openapi_direct.py); tests/e2e/test_openapi_shapes.py checks real
    answers against them."""
    ops = operations()
    for op_id in (
        "signedPartsUpload",
        "signedUploadsPost",
        "signedUploadsPut",
        "companionGrantsAdd",
        "s3MultipartCreate",
        "s3MultipartSignPart",
        "s3MultipartParts",
        "s3MultipartComplete",
        "s3MultipartAbort",
        "s3UploadParams",
    ):
        assert op_id in ops, op_id
    # The signed URLs are their own credentials: no bearer key, no tenancy headers.
    for op_id in ("signedPartsUpload", "signedUploadsPost", "signedUploadsPut"):
        assert ops[op_id]["security"] == []
        assert not any(p["in"] == "header" for p in ops[op_id]["parameters"])
    schemas = document()["components"]["schemas"]
    session = schemas["UploadSession"]
    assert session["additionalProperties"] is False
    assert {"upload_mode", "direct_parts", "digest_algorithms"} <= set(session["properties"])
    assert schemas["DirectPart"]["required"] == [
        "part_number", "offset", "size", "method", "url", "headers", "expires_at"
    ]  # fmt: skip
    one = ops["uploadSessionsOne"]["responses"]["200"]["content"]["application/json"]
    assert "UploadSession" in json.dumps(one["schema"])


def test_the_resumable_upload_routes_are_documented() -> None:
    """/uploads (issue #19): tus v1 and the IETF draft on the same routes, with their headers,
    statuses and error bodies; tests/e2e/test_openapi_shapes.py checks real answers."""
    paths = document()["paths"]
    assert set(paths["/uploads"]) == {"options", "post"}
    assert set(paths["/uploads/{id}"]) == {"options", "head", "patch", "delete", "post"}
    create = paths["/uploads"]["post"]
    sent = {p["name"] for p in create["parameters"] if p["in"] == "header"}
    assert {
        "Tus-Resumable", "Upload-Length", "Upload-Metadata", "Upload-Concat",
        "Upload-Defer-Length", "Upload-Checksum", "Upload-Draft-Interop-Version",
        "Upload-Complete", "Repr-Digest",
    } <= sent  # fmt: skip
    created = create["responses"]["201"]["headers"]
    assert created["Location"]["required"] is True
    assert {"Upload-Expires", "Upload-Offset", "Upload-Limit", "Upload-Complete"} <= set(created)
    assert {"104", "409", "412", "460"} <= set(create["responses"])
    append = paths["/uploads/{id}"]["patch"]
    assert {"200", "204", "409", "415", "460"} <= set(append["responses"])
    assert ("header", "Upload-Offset") in declared(append)
    media = set(append["requestBody"]["content"])
    assert media == {"application/offset+octet-stream", "application/partial-upload"}
    conflict = append["responses"]["409"]["content"]
    assert set(conflict) == {"text/plain", "application/problem+json"}
    head = paths["/uploads/{id}"]["head"]["responses"]
    assert head["200"]["headers"]["Upload-Offset"]["required"] is True  # tus
    assert head["204"]["headers"]["Upload-Complete"]["required"] is True  # the draft
    assert paths["/uploads"]["options"]["security"] == []
    problem = document()["components"]["schemas"]["Problem"]
    assert {"expected-offset", "provided-offset"} <= set(problem["properties"])
