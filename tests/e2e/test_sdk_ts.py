"""The official TypeScript SDK (@apideck/unify, pinned in tests/sdk-ts/package-lock.json),
unmodified, drives all 32 file-storage methods against a real `partway serve`
(tests/sdk-ts/drive.mjs); each method's outcome is asserted here."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import Server

SDK_DIR = Path(__file__).resolve().parent.parent / "sdk-ts"
METHODS = {
    *(f"uploadSessions.{m}" for m in ("create", "get", "upload", "finish", "delete")),
    *(f"files.{m}" for m in ("list", "search", "get", "update", "delete", "download", "export")),
    *(f"folders.{m}" for m in ("create", "get", "update", "delete", "copy")),
    *(f"{ns}.{m}" for ns in ("drives", "driveGroups", "sharedLinks")
      for m in ("list", "create", "get", "update", "delete")),
}  # fmt: skip


def npm_ci() -> None:
    """Install the locked SDK once (.ci/run does it up front)."""
    if (SDK_DIR / "node_modules" / "@apideck" / "unify").is_dir():
        return
    subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund"], cwd=SDK_DIR, check=True, capture_output=True
    )


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_all_32_methods_of_the_typescript_sdk(server: Server) -> None:
    assert len(METHODS) == 32
    npm_ci()
    env = {
        **os.environ,
        "PARTWAY_URL": server.base_url,
        "PARTWAY_KEY": server.key,
        "PARTWAY_APP_ID": server.app_id,
        "PARTWAY_CONSUMER_ID": "sdk-ts",
    }
    run = subprocess.run(
        ["node", "drive.mjs"], cwd=SDK_DIR, env=env, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr[-3000:]
    results = json.loads(run.stdout.strip().splitlines()[-1])["results"]
    outcomes = {r["method"]: r for r in results}
    assert set(outcomes) == METHODS and len(results) == 32
    failed = {m: r["detail"] for m, r in outcomes.items() if not r["ok"]}
    assert failed == {}
