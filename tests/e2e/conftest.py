"""End-to-end tests drive real server processes over raw sockets, httpx and the SDK.

Warnings are errors here too, except ResourceWarning: some of these tests still leave a client
socket to the garbage collector (a test-hygiene backlog, not a server fault: the server runs in
its own process). Unit, domain, contract and integration tests get no such exemption.
"""

from __future__ import annotations

import pytest

_TOLERATED = pytest.mark.filterwarnings(
    "ignore::ResourceWarning", "ignore::pytest.PytestUnraisableExceptionWarning"
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/tests/e2e/" in str(item.path):
            item.add_marker(_TOLERATED)
