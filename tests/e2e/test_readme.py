"""The README, run as a newcomer would: every fenced code block, in order, as written.

- The `scripts/serve` block is started as the server, in the background. Its data goes to a
  scratch directory (PARTWAY_DATA_DIR) rather than the checkout's ./partway-data, and it listens
  on a free port: `127.0.0.1:8080` in every block is replaced by that address, the one change made
  to the text.
- Every other `sh` block and every `python` block runs, in order, in one bash script (so the
  variables one block exports reach the next), in a scratch directory holding links to the
  checkout's `.venv` and `scripts/`, as the README's "from the root of a checkout" has them.
- The `json` block must be the shape of a real session; the layout block must name real paths;
  the error and settings tables must cover the code's; every relative link must resolve inside
  the repository.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from partway.config import Settings, env_name
from partway.http.errors import APIDECK
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", re.S | re.M)
RUNNABLE = ("sh", "python")


@dataclass(frozen=True)
class Block:
    language: str
    text: str


def blocks() -> list[Block]:
    return [Block(m.group(1), m.group(2)) for m in FENCE.finditer(README.read_text())]


def test_every_fenced_block_has_a_known_kind() -> None:
    kinds = {b.language for b in blocks()}
    # js: browser and node snippets (tus clients), run by their own e2e tests instead.
    assert kinds <= {"sh", "python", "json", "js", ""}, kinds


def as_script(runnable: list[Block], address: str) -> str:
    lines = ["set -euo pipefail"]
    for n, block in enumerate(runnable):
        text = block.text.replace("127.0.0.1:8080", address)
        lines.append(f"echo '--- README block {n} ({block.language})' >&2")
        if block.language == "sh":
            lines.append(text)
        else:
            lines.append(f".venv/bin/python - <<'README_PYTHON_{n}'\n{text}README_PYTHON_{n}")
    return "\n".join(lines) + "\n"


@dataclass
class Walk:
    work: Path
    address: str
    result: subprocess.CompletedProcess[str]
    server_log: Path


@pytest.fixture(scope="module")
def walk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Walk]:
    work = tmp_path_factory.mktemp("newcomer")
    for name in (".venv", "scripts"):
        (work / name).symlink_to(ROOT / name)
    runnable = [b for b in blocks() if b.language in RUNNABLE]
    serve = [b for b in runnable if b.text.lstrip().startswith("scripts/serve")]
    assert len(serve) == 1, "the README starts its server with one `scripts/serve` block"
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PARTWAY_")},
        "PARTWAY_DATA_DIR": str(work / "partway-data"),
        "PARTWAY_PORT": str(port),
        "XDG_STATE_HOME": str(work / "state"),  # the uploader's resume records
    }
    server_log = work / "server.log"
    with server_log.open("wb") as log:
        server = subprocess.Popen(
            ["bash", "-c", serve[0].text],
            cwd=work,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until_serving(f"http://127.0.0.1:{port}", server, server_log)
        script = as_script([b for b in runnable if b is not serve[0]], f"127.0.0.1:{port}")
        result = subprocess.run(
            ["bash", "-c", script],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        yield Walk(work, f"127.0.0.1:{port}", result, server_log)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)


def wait_until_serving(base: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 180  # scripts/serve runs scripts/setup first
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"scripts/serve exited: {log.read_text()[-3000:]}")
        try:
            httpx.get(base + "/healthz", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError(f"scripts/serve did not answer: {log.read_text()[-3000:]}")


def test_every_block_runs_as_written(walk: Walk) -> None:
    out = walk.result
    assert out.returncode == 0, f"stdout:\n{out.stdout[-3000:]}\nstderr:\n{out.stderr[-5000:]}"
    assert "the copy is identical" in out.stdout
    # Both SDK examples and the Python upload each made a whole file of their own.
    assert re.search(r"^file_\S+ video.mp4 20971520$", out.stdout, re.M), out.stdout
    assert re.search(r"^file_\S+ notes.txt 8000$", out.stdout, re.M), out.stdout
    assert re.search(r"^file_\S+ 30000000$", out.stdout, re.M), out.stdout


def test_the_server_said_where_it_serves_and_that_it_stopped(walk: Walk) -> None:
    text = walk.server_log.read_text()
    assert f"serving on http://{walk.address}" in text
    assert f"data directory {walk.work / 'partway-data'}" in text
    assert "Traceback" not in text, text[-3000:]


def test_the_session_example_has_a_real_sessions_fields(walk: Walk) -> None:
    (example,) = [json.loads(b.text) for b in blocks() if b.language == "json"]
    key = subprocess.run(
        [".venv/bin/partway", "keys", "create", "--app-id", "readme"],
        cwd=walk.work,
        env={**os.environ, "PARTWAY_DATA_DIR": str(walk.work / "partway-data")},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    headers = {
        "Authorization": f"Bearer {key}",
        "x-apideck-app-id": "readme",
        "x-apideck-consumer-id": "bob",
    }
    base = f"http://{walk.address}/file-storage/upload-sessions"
    body = {"name": "shape.bin", "parent_folder_id": "root", "size": 30_000_000}
    created = httpx.post(base, json=body, headers=headers).json()["data"]["id"]
    real = httpx.get(f"{base}/{created}", headers=headers).json()["data"]
    assert set(example) == set(real)


def test_the_layout_names_real_paths() -> None:
    (layout,) = [b.text for b in blocks() if b.language == "" and "src/partway/" in b.text]
    package = ROOT / "src" / "partway"
    for line in layout.splitlines()[1:]:
        if line.startswith("tests/"):
            for part in line.split():
                assert (ROOT / ("" if part == "tests/" else "tests") / part).exists(), part
        elif line.startswith("  ") and not line.startswith("   "):
            assert (package / line.split()[0]).exists(), line
    listed = {line.split()[0] for line in layout.splitlines() if re.match(r"  \S", line)}
    subpackages = {p.name + "/" for p in package.iterdir() if (p / "__init__.py").exists()}
    assert subpackages - listed == set(), "the layout leaves out a package"


def test_the_error_table_covers_every_status_the_code_answers() -> None:
    text = README.read_text()
    rows = set(re.findall(r"^\| (\d{3}) \| `(\w+)` \|", text, re.M))
    answered = {(str(a.status), a.type_name) for a in APIDECK.answers()}
    answered -= {("500", "InternalServerError")}  # a fault of partway's, not an answer to input
    answered |= {("408", "RequestTimeoutError"), ("405", "MethodNotAllowedError")}
    assert answered - rows == set()


def test_the_settings_table_names_every_setting() -> None:
    text = README.read_text()
    assert [f for f in Settings.model_fields if f"`{env_name(f)}`" not in text] == []


def test_links_resolve_inside_the_repository() -> None:
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", README.read_text()):
        if "://" in target:
            continue
        path = (ROOT / target).resolve()
        assert path.is_relative_to(ROOT) and path.exists(), target
