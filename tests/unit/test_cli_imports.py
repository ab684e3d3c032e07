"""`partway upload` starts without the server side or anything it does not use: its process start
is part of every upload's time (docs/benchmarks.md, "Integrity"). Each check runs in a fresh
interpreter, as the command does."""

from __future__ import annotations

import json
import subprocess
import sys

# Never in a client command: the server side, and httpx's own command line.
SERVER_SIDE = {
    "pydantic",
    "pydantic_settings",
    "starlette",
    "uvicorn",
    "sqlalchemy",
    "alembic",
    "aiobotocore",
    "azure",
    "prometheus_client",
    "click",
    "pygments",
}
# Not even loaded to parse the command line (each only when an upload needs it).
RUN_ONLY = {"httpx", "asyncio", "awscrt", "rich"}


def loaded_after(code: str) -> set[str]:
    """The top-level packages in sys.modules after running `code` in a fresh interpreter."""
    listing = "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    probe = f"{code}\nimport json, sys\n{listing}"
    out = subprocess.run(
        [sys.executable, "-c", probe], check=True, capture_output=True, text=True
    ).stdout
    return set(json.loads(out.splitlines()[-1]))


def test_parsing_an_upload_command_loads_nothing_heavy() -> None:
    loaded = loaded_after(
        "from partway.cli import parser\n"
        "parser().parse_args(['upload', 'f.bin', '--digest', 'crc32c'])"
    )
    assert not loaded & (SERVER_SIDE | RUN_ONLY)


def test_an_upload_loads_what_it_sends_with_and_no_server_side() -> None:
    loaded = loaded_after(
        "from partway.client.cli import _import_httpx_without_its_cli\n"
        "_import_httpx_without_its_cli()\n"
        "import partway.client.uploader, partway.client.progress, partway.client.digests\n"
        "from partway.client.digests import part_digest\n"
        "part_digest('crc32c', memoryview(b'x'))"
    )
    assert {"httpx", "asyncio", "awscrt"} <= loaded
    assert not loaded & (SERVER_SIDE | {"rich"})


def test_httpx_without_its_command_line_still_has_it_on_request() -> None:
    loaded = loaded_after(
        "from partway.client.cli import _import_httpx_without_its_cli\n"
        "_import_httpx_without_its_cli()\n"
        "import httpx._main"
    )
    assert "click" in loaded  # the real module, once asked for by name
