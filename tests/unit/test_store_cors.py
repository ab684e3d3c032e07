"""`partway storage cors`'s checks before it touches a store (storage/cors.py); the rule itself
is set on RGW and Azurite and used by a browser in tests/e2e/test_browser_direct_stores.py."""

from __future__ import annotations

import asyncio

import pytest

from partway.storage.cors import allow_direct_puts, check_origins


def test_origins_are_what_browsers_send() -> None:
    assert check_origins(["https://app.example/", "http://127.0.0.1:8080", "*"]) == [
        "https://app.example",
        "http://127.0.0.1:8080",
        "*",
    ]
    for bad in ["app.example", "https://app.example/upload", "ftp://x", "https://a.example?x=1"]:
        with pytest.raises(ValueError, match="an origin looks like"):
            check_origins([bad])
    with pytest.raises(ValueError, match="at least one origin"):
        check_origins([])


def test_local_disk_needs_no_rule() -> None:
    with pytest.raises(ValueError, match="partway serves the part URLs itself"):
        asyncio.run(allow_direct_puts("/srv/partway", ["https://app.example"], {}))
