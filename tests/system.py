"""System programs some tests drive: found, or the test is skipped with one line naming what is
missing and how to get it. CI sets PARTWAY_TEST_REQUIRE_ALL=1, where a missing one fails instead,
so a green CI never hides a skipped test."""

from __future__ import annotations

import glob
import os
import shutil

import pytest


def missing(reason: str) -> None:
    if os.environ.get("PARTWAY_TEST_REQUIRE_ALL"):
        pytest.fail(reason)
    pytest.skip(reason)


def program(name: str, package: str, *candidates: str) -> str:
    """The path of `name`, or skip: `apt-get install package` brings it (.ci/run does)."""
    found = shutil.which(name) or next((c for c in candidates if os.access(c, os.X_OK)), None)
    if found is None:
        missing(f"{name} not installed (apt-get install {package}; .ci/run installs it)")
    assert found is not None
    return found


def postgres_bin() -> str:
    """PostgreSQL's server programs (initdb, pg_ctl), as scripts/services needs them."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        missing("PostgreSQL server (initdb) not installed (apt-get install postgresql)")
    return os.path.dirname(found[-1])


def root(why: str) -> None:
    if os.geteuid() != 0:
        missing(f"needs root: {why}")
