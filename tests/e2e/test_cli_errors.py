"""The client commands' failures, one test per case of issue #16: each is one line on stderr that
names the cause and what to do, with the documented exit code, fast when it can never work, and
leaves no resume record for an upload that never got a session."""

from __future__ import annotations

import http.server
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Server, free_port
from tests.sockets import handle_each

EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE = 1, 2, 3


def client_env(server: Server, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARTWAY_")}
    return {
        **env,
        "PARTWAY_SERVER": server.base_url,
        "PARTWAY_API_KEY": server.key,
        "PARTWAY_APP_ID": server.app_id,
        "PARTWAY_CONSUMER_ID": server.consumer_id,
        "XDG_STATE_HOME": str(tmp_path / "state"),
        **extra,
    }


def partway(
    env: dict[str, str], *args: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "partway", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def one_line_error(proc: subprocess.CompletedProcess[str], code: int, *words: str) -> str:
    """The single `partway: …` line on stderr, with the exit code and the words expected."""
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in lines if line.startswith("partway: ")]
    assert len(errors) == 1 and len(lines) == 1, proc.stderr
    for word in words:
        assert word in errors[0], errors[0]
    return errors[0]


def resume_records(tmp_path: Path) -> list[Path]:
    return list((tmp_path / "state").rglob("*.json"))


@pytest.fixture
def small_file(tmp_path: Path) -> Path:
    path = tmp_path / f"{tmp_path.name}.bin"  # a name of its own: names are unique per folder
    path.write_bytes(os.urandom(300_000))
    return path


def timed(env: dict[str, str], *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    began = time.monotonic()
    proc = partway(env, *args)
    return proc, time.monotonic() - began


def test_dead_port_fails_at_once(server: Server, tmp_path: Path, small_file: Path) -> None:
    env = client_env(server, tmp_path, PARTWAY_SERVER=f"http://127.0.0.1:{free_port()}")
    proc, took = timed(env, "upload", str(small_file))
    one_line_error(proc, EXIT_UNREACHABLE, "connection refused", "partway serve", "--server")
    assert took < 10
    assert resume_records(tmp_path) == []


def test_unknown_host_fails_at_once(server: Server, tmp_path: Path, small_file: Path) -> None:
    env = client_env(server, tmp_path, PARTWAY_SERVER="http://no-such-host.invalid:8080")
    proc, took = timed(env, "upload", str(small_file))
    one_line_error(proc, EXIT_UNREACHABLE, "unknown host", "no-such-host.invalid")
    assert took < 15
    assert resume_records(tmp_path) == []


@pytest.fixture
def not_http() -> Iterator[str]:
    """A port where something else than HTTP answers (an SSH-like banner), then hangs up."""
    listener = socket.create_server(("127.0.0.1", 0))

    def banner(conn: socket.socket) -> None:
        conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")
        conn.recv(65536)

    handle_each(listener, banner)
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    listener.close()


def test_non_http_port_fails_at_once(
    server: Server, tmp_path: Path, small_file: Path, not_http: str
) -> None:
    env = client_env(server, tmp_path, PARTWAY_SERVER=not_http)
    proc, took = timed(env, "upload", str(small_file))
    one_line_error(proc, EXIT_UNREACHABLE, "no HTTP answer", "address and port")
    assert took < 10
    assert resume_records(tmp_path) == []


@pytest.mark.parametrize("url", ["127.0.0.1:8080", "ftp://127.0.0.1:8080", "http://"])
def test_url_that_can_never_work_is_a_usage_error(
    server: Server, tmp_path: Path, small_file: Path, url: str
) -> None:
    env = client_env(server, tmp_path, PARTWAY_SERVER=url)
    for args in (["upload", str(small_file)], ["sessions", "list"], ["download", "file_x"]):
        proc, took = timed(env, *args)
        one_line_error(proc, EXIT_USAGE, "http://", "PARTWAY_SERVER")
        assert took < 10


def test_refused_uploads_leave_no_resume_record(
    server: Server, tmp_path: Path, small_file: Path
) -> None:
    env = client_env(server, tmp_path)
    first = partway(env, "upload", str(small_file))
    assert first.returncode == 0, first.stderr
    other = tmp_path / "elsewhere"
    other.mkdir()
    clash = other / small_file.name
    clash.write_bytes(b"another file of the same name")
    proc = partway(env, "upload", str(clash))
    one_line_error(proc, EXIT_FAILED, "409 ConflictError", "rename")
    assert resume_records(tmp_path) == []
    proc = partway({**env, "PARTWAY_API_KEY": "pw_wrong"}, "upload", str(clash))
    one_line_error(proc, EXIT_FAILED, "401 UnauthorizedError", "PARTWAY_API_KEY")
    assert resume_records(tmp_path) == []


def test_file_id_on_stdout_progress_on_stderr_in_mib(
    server: Server, tmp_path: Path, small_file: Path
) -> None:
    env = client_env(server, tmp_path)
    proc = partway(env, "upload", str(small_file))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("file_") and proc.stdout.count("\n") == 1, proc.stdout
    file_id = proc.stdout.strip()
    with server.client() as http:
        assert http.get(f"/file-storage/files/{file_id}").status_code == 200
    assert "MiB" in proc.stderr and "MB/s" not in proc.stderr, proc.stderr


def test_json_output_survives_a_closed_pipe(server: Server, tmp_path: Path) -> None:
    source = tmp_path / "piped.bin"
    source.write_bytes(os.urandom(3 * 1024 * 1024))
    env = client_env(server, tmp_path)
    command = (
        f"{sys.executable} -m partway upload {source} --json --part-size-hint 1048576 | head -1;"
        " echo status=${PIPESTATUS[0]}"
    )
    proc = subprocess.run(["bash", "-c", command], env=env, capture_output=True, text=True)
    assert "status=0" in proc.stdout, proc.stdout + proc.stderr
    assert "BrokenPipe" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    with server.client() as http:
        listing = http.get("/file-storage/files", params={"filter[folder_id]": "root"}).json()
    assert "piped.bin" in [f["name"] for f in listing["data"]]


def test_download_refuses_to_overwrite_without_force(
    server: Server, tmp_path: Path, small_file: Path
) -> None:
    env = client_env(server, tmp_path)
    file_id = partway(env, "upload", str(small_file)).stdout.strip()
    target = tmp_path / "existing.bin"
    target.write_bytes(b"keep me")
    proc = partway(env, "download", file_id, "-o", str(target))
    one_line_error(proc, EXIT_FAILED, str(target), "--force")
    assert target.read_bytes() == b"keep me"
    proc = partway(env, "download", file_id, "-o", str(target), "--force")
    assert proc.returncode == 0, proc.stderr
    assert target.read_bytes() == small_file.read_bytes()
    assert proc.stdout.strip() == str(target)


def test_empty_sessions_list_says_so(server: Server, tmp_path: Path) -> None:
    env = client_env(server, tmp_path, PARTWAY_CONSUMER_ID="nobody-yet")
    proc = partway(env, "sessions", "list")
    assert proc.returncode == 0 and proc.stdout == ""
    assert "no unfinished uploads" in proc.stderr


def test_debug_shows_the_traceback(server: Server, tmp_path: Path, small_file: Path) -> None:
    env = client_env(server, tmp_path, PARTWAY_SERVER="http://127.0.0.1:9")
    proc = partway(env, "upload", str(small_file), "--debug")
    assert proc.returncode != 0 and "Traceback" in proc.stderr


def test_retries_say_what_they_wait_for(server: Server, tmp_path: Path) -> None:
    """A server that answers 503 to every request: each retry says what it waits for."""

    class Busy(http.server.BaseHTTPRequestHandler):
        def answer(self) -> None:
            # The whole request first (a POST's body may come in a send of its own): an answer
            # to its head alone would be cut off by the body's arrival (RST).
            self.rfile.read(int(self.headers.get("content-length", "0")))
            self.send_response(503)
            for name, value in (("content-length", "2"), ("retry-after", "0")):
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(b"{}")

        do_GET = do_POST = do_PUT = do_DELETE = answer

        def log_message(self, format: str, *args: object) -> None:
            pass

    busy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Busy)
    threading.Thread(target=busy.serve_forever, daemon=True).start()
    env = {
        **client_env(server, tmp_path),
        "PARTWAY_SERVER": f"http://127.0.0.1:{busy.server_address[1]}",
    }
    source = tmp_path / "busy.bin"
    source.write_bytes(b"x")
    proc = partway(env, "upload", str(source))
    busy.shutdown()
    busy.server_close()
    assert proc.returncode == EXIT_FAILED
    waits = [line for line in proc.stderr.splitlines() if line.startswith("partway: waiting")]
    assert waits and "the server to recover (HTTP 503)" in waits[0] and "try 2 of" in waits[0]
    assert "Traceback" not in proc.stderr
