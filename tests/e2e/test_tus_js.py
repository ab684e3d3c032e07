"""tus-js-client 4.3.1 (pinned in tests/tus-js/package-lock.json), unmodified, against a real
`partway serve` (tests/tus-js/drive.mjs): upload, abort and resume with its fingerprint store,
terminate. The stored bytes are read back through the Apideck API."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Server
from tests.e2e.tus_helpers import stored

TUS_JS = Path(__file__).resolve().parent.parent / "tus-js"
MIB = 1024 * 1024

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")


def npm_ci() -> None:
    """Install the locked client once (.ci/run does it up front)."""
    if (TUS_JS / "node_modules" / "tus-js-client").is_dir():
        return
    subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund"], cwd=TUS_JS, check=True, capture_output=True
    )


def drive(server: Server, tmp: Path, scenario: str, payload: bytes, name: str) -> dict[str, Any]:
    npm_ci()
    source = tmp / f"{name}.payload"
    source.write_bytes(payload)
    env = {
        **os.environ,
        "PARTWAY_URL": server.base_url,
        "PARTWAY_KEY": server.key,
        "PARTWAY_APP_ID": server.app_id,
        "PARTWAY_CONSUMER_ID": server.consumer_id,
    }
    store = tmp / f"{name}.urls.json"
    run = subprocess.run(
        ["node", "drive.mjs", scenario, str(source), name, str(store)],
        cwd=TUS_JS,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    result: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    return result


def test_upload(server: Server, tmp_path: Path) -> None:
    payload = os.urandom(5 * MIB + 123)
    result = drive(server, tmp_path, "upload", payload, "tus-js.bin")
    assert result["outcome"] == "done"
    assert [r["method"] for r in result["requests"]] == ["POST", "PATCH"]
    with server.client() as client:
        assert stored(client, "tus-js.bin") == payload


def test_abort_and_resume_from_the_fingerprint_store(server: Server, tmp_path: Path) -> None:
    payload = os.urandom(2 * MIB + 5)
    result = drive(server, tmp_path, "resume", payload, "resumed.bin")
    assert (result["first"], result["found"], result["outcome"]) == ("aborted", 1, "done")
    assert result["sameUrl"] is True
    head = result["requests"][0]
    assert head["method"] == "HEAD" and int(head["offset"]) >= MIB  # resumed, not restarted
    assert all(r["method"] == "PATCH" for r in result["requests"][1:])
    with server.client() as client:
        assert stored(client, "resumed.bin") == payload


def test_parallel_uploads_are_concatenated(server: Server, tmp_path: Path) -> None:
    payload = os.urandom(3 * MIB + 7)  # split by the client into floor(size/4)-byte pieces
    result = drive(server, tmp_path, "parallel", payload, "parallel.bin")
    assert result["outcome"] == "done"
    concat = [r.get("concat") for r in result["requests"] if r["method"] == "POST"]
    assert concat[:4] == ["partial"] * 4 and concat[4].startswith("final;http://")
    with server.client() as client:
        assert stored(client, "parallel.bin") == payload
        # The pieces are gone: only the file is left, no partial session.
        res = client.get("/file-storage/upload-sessions")
        assert res.status_code == 200, res.text
        assert res.json()["data"] == []


def test_ietf_draft_05_protocol(server: Server, tmp_path: Path) -> None:
    """tus-js-client's draft mode: Upload-Draft-Interop-Version 6, application/partial-upload."""
    payload = os.urandom(MIB + 3)
    result = drive(server, tmp_path, "ietf-draft-05", payload, "draft.bin")
    assert result["outcome"] == "done"
    methods = [r["method"] for r in result["requests"]]
    assert methods == ["POST", "PATCH", "PATCH", "PATCH"]
    assert result["requests"][-1]["complete"] == "?1"
    with server.client() as client:
        assert stored(client, "draft.bin") == payload


def test_terminate(server: Server, tmp_path: Path) -> None:
    result = drive(server, tmp_path, "terminate", os.urandom(MIB), "terminated.bin")
    assert result["outcome"] == "aborted"
    last = result["requests"][-1]
    assert (last["method"], last["status"]) == ("DELETE", 204)
    with server.client() as client:
        res = client.head(result["url"], headers={"Tus-Resumable": "1.0.0"})
        assert res.status_code == 404
