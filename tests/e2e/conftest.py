"""End-to-end tests drive real server processes over raw sockets, httpx and the SDK.

Warnings are errors here too, except ResourceWarning: some of these tests still leave a client
socket to the garbage collector (a test-hygiene backlog, not a server fault: the server runs in
its own process). Unit, domain, contract and integration tests get no such exemption.
"""

from __future__ import annotations

import gc
import warnings
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.system import program

_TOLERATED = pytest.mark.filterwarnings(
    "ignore::ResourceWarning", "ignore::pytest.PytestUnraisableExceptionWarning"
)


# Modules whose subject does not depend on which HTTP protocol serves them (a browser page, SDK
# coverage, event delivery, storage and locking across instances, the CLI): CI's second e2e pass
# on uvicorn's stock protocol leaves them out (marker `protocol_neutral`) to stay within its time
# budget. A new module runs in both passes until it is named here.
PROTOCOL_NEUTRAL = frozenset(
    {
        "test_browser.py",
        "test_browser_catalog.py",
        "test_browser_direct_stores.py",
        "test_cli_errors.py",
        "test_cli_server.py",
        "test_direct_parts.py",
        "test_disk_full.py",
        "test_drives_api.py",
        "test_folder_copy.py",
        "test_hooks.py",
        "test_openapi_shapes.py",
        "test_ops.py",
        "test_readme.py",
        "test_s3_companion.py",
        "test_s3_params.py",
        "test_scale_out.py",
        "test_sdk.py",
        "test_sdk_all_methods.py",
        "test_sdk_catalog.py",
        "test_sdk_ts.py",
        "test_sessions_list.py",
        "test_two_instances.py",
        "test_uppy.py",
        "test_uppy_s3.py",
        "test_webhook_subscriptions.py",
        "test_tus_js.py",
        "test_tus_persistence.py",
        "test_webhooks.py",
        "test_webhooks_crash.py",
    }
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/tests/e2e/" in str(item.path):
            item.add_marker(_TOLERATED)
            if item.path.name in PROTOCOL_NEUTRAL:
                item.add_marker(pytest.mark.protocol_neutral)


@pytest.hookimpl(trylast=True)  # after the test's fixtures are torn down
def pytest_runtest_teardown(item: pytest.Item) -> None:
    """Collect what an e2e test left while its tolerance still holds: a socket collected later,
    during a unit or integration test, would fail that test instead (seen in CI)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


def pytest_unconfigure(config: pytest.Config) -> None:
    """Collect what the e2e tests left before pytest reports unraisable leftovers, under the
    same tolerance (else a socket collected after the last test fails the whole run)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Chromium (Debian's package), one per test module."""
    chromium = program("chromium", "chromium", "/usr/bin/chromium")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A page in a fresh browser context (a module may define its own, with permissions)."""
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    pg = context.new_page()
    yield pg
    context.close()
