"""schemathesis against partway's own OpenAPI document: no input makes the server answer 5xx.

Authenticated cases reach the handlers (the tenancy headers are real); positive and negative
data both. PARTWAY_FUZZ_EXAMPLES bounds the examples per operation (default 25).
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.schemas import OpenApiSchema

from tests.conftest import Server

EXAMPLES = int(os.environ.get("PARTWAY_FUZZ_EXAMPLES", "25"))

api = schemathesis.pytest.from_fixture("api_schema")


@pytest.fixture(scope="module")
def api_schema(server: Server) -> OpenApiSchema:
    return schemathesis.openapi.from_url(server.base_url + "/openapi.json")


@api.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_causes_a_server_error(case: schemathesis.Case, server: Server) -> None:
    case.headers = {**(case.headers or {}), **server.headers("fuzz")}
    case.call_and_validate(base_url=server.base_url, checks=[not_a_server_error], timeout=30)
