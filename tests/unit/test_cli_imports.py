"""`partway upload` starts without the server side or anything it does not use: its process start
is part of every upload's time (docs/benchmarks.md, "Integrity"). Each check runs in a fresh
interpreter, as the command does."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from tests.sockets import handle_each

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
RUN_ONLY = {"httpx", "asyncio", "rich"}
# Standard modules an upload's start did without: dataclasses (with the inspect, ast and dis it
# loads) and the rest cost it ~18 ms before its first request (docs/benchmarks.md, #22).
SLOW_START = {"dataclasses", "inspect", "datetime", "secrets", "random", "http"}


def loaded_after(code: str) -> set[str]:
    """The top-level packages in sys.modules after running `code` in a fresh interpreter."""
    listing = "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    probe = f"{code}\nimport json, sys\n{listing}"
    # Without coverage (the suite measures subprocesses): it loads modules of its own.
    env = {k: v for k, v in os.environ.items() if not k.startswith("COVERAGE_PROCESS_")}
    out = subprocess.run(
        [sys.executable, "-c", probe], check=True, capture_output=True, text=True, env=env
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
        "import partway.client.uploader, partway.client.progress, partway.client.digests\n"
        "import partway.client.syncapi, partway.client.state, partway.client.cli\n"
        "from partway.client.digests import part_digest\n"
        "part_digest('crc32c', memoryview(b'x'))"
    )
    assert "fastcrc" in loaded
    assert not loaded & (SERVER_SIDE | RUN_ONLY | SLOW_START)


def test_a_plain_http_upload_run_loads_neither_httpx_nor_asyncio(tmp_path: Path) -> None:
    """The whole command, against a server that refuses the key: the uploader's requests go
    over rawhttp.py's sockets (httpx comes only with TLS; asyncio never)."""
    source = tmp_path / "f.bin"
    source.write_bytes(b"x" * 10)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        answer = b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 2\r\n\r\n{}"

        def refuse(conn: socket.socket) -> None:
            while conn.recv(65536):
                conn.sendall(answer)

        handle_each(listener, refuse)
        loaded = loaded_after(
            "import sys\n"
            "from partway.cli import main\n"
            f"sys.argv = ['partway', 'upload', {str(source)!r}, '--server', "
            f"'http://127.0.0.1:{port}', '--api-key', 'k', '--app-id', 'a', "
            f"'--consumer-id', 'c', '--state-dir', {str(tmp_path / 'state')!r}]\n"
            "assert main() == 1"
        )
    assert not loaded & {"httpx", "httpcore", "anyio", "asyncio", "rich"}


def test_httpx_without_its_command_line_still_has_it_on_request() -> None:
    loaded = loaded_after(
        "from partway.client.cli import _import_httpx_without_its_cli\n"
        "_import_httpx_without_its_cli()\n"
        "import httpx._main"
    )
    assert "click" in loaded  # the real module, once asked for by name


def test_a_plain_http_api_client_loads_neither_httpcore_nor_anyio() -> None:
    make = (
        "from partway.client.cli import _import_httpx_without_its_cli\n"
        "_import_httpx_without_its_cli()\n"
        "from partway.client.api import AsyncApi, Credentials\n"
        "AsyncApi({url!r}, Credentials('k', 'a', 'c'))"
    )
    plain = loaded_after(make.format(url="http://127.0.0.1:8080"))
    assert not plain & {"httpcore", "anyio"}
    assert "httpcore" in loaded_after(make.format(url="https://example.org"))  # TLS: httpx's


def test_a_client_command_builds_only_the_client_parsers() -> None:
    modules = (
        "import sys\n"
        "from partway.cli import parser\n"
        "{call}\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('partway.webhooks'))))"
    )
    probe = modules.format(call="parser(only_client=True).parse_args(['upload', 'f.bin'])")
    out = subprocess.run(
        [sys.executable, "-c", "import json\n" + probe], check=True, capture_output=True, text=True
    ).stdout
    assert json.loads(out) == []


def test_the_command_word_picks_the_parser() -> None:
    from partway.cli import CLIENT_COMMANDS, _command_of, parser

    assert _command_of(["--debug", "upload", "f.bin", "--json"]) == "upload"
    assert _command_of(["--help"]) is None
    assert _command_of(["serve", "--port", "1"]) not in CLIENT_COMMANDS
    args = parser(only_client=True).parse_args(["--debug", "sessions", "list"])
    assert args.debug and args.command == "sessions"
