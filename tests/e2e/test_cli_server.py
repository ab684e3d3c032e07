"""The operator's commands, run as a newcomer would (issue #16): `partway serve` says where it
serves and when it stops; settings, data directory and port problems are one line each; keys
land in the server's database and can be listed and revoked."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from partway import __version__
from tests.conftest import free_port

EXIT_FAILED, EXIT_USAGE = 1, 2


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARTWAY_")}
    return {**env, **extra}


def partway(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "partway", *args],
        env=clean_env(**env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def one_line_error(proc: subprocess.CompletedProcess[str], code: int, *words: str) -> str:
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    # Commands on a database first say which one they use; the error is the one other line.
    lines = [line for line in proc.stderr.splitlines() if not line.startswith("partway: database")]
    assert len(lines) == 1 and lines[0].startswith("partway: "), proc.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def test_version(tmp_path: Path) -> None:
    proc = partway("--version", cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout.strip() == f"partway {__version__}"


def test_serve_logs_one_start_line_and_one_stop_line(tmp_path: Path) -> None:
    port = free_port()
    data = tmp_path / "data"
    env = clean_env(PARTWAY_LOG_FORMAT="text")
    process = subprocess.Popen(
        [sys.executable, "-m", "partway", "serve", "--port", str(port), "--data-dir", str(data)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=30)
    lines = out.splitlines()
    (start,) = [line for line in lines if "serving on" in line]
    for part in (
        f"partway {__version__}",
        f"http://127.0.0.1:{port}",
        f"data directory {data}",
        f"database sqlite:///{data}/partway.db",
        f"storages local={data}",
    ):
        assert part in start, start
    (stop,) = [line for line in lines if "stopped" in line]
    assert "SIGTERM" in stop and lines[-1] == stop, out


def test_unwritable_data_directory_is_named(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    proc = partway("serve", "--data-dir", str(blocker / "data"), cwd=tmp_path)
    one_line_error(proc, EXIT_FAILED, str(blocker / "data"), "--data-dir")


def test_port_in_use_is_named(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        proc = partway(
            "serve", "--port", str(port), "--data-dir", str(tmp_path / "d"), cwd=tmp_path
        )
    one_line_error(proc, EXIT_FAILED, f"port {port}", "in use", "--port")


def test_settings_errors_name_the_variable_the_value_and_the_form(tmp_path: Path) -> None:
    proc = partway("serve", cwd=tmp_path, PARTWAY_STORAGE="notjson")
    one_line_error(proc, EXIT_USAGE, "PARTWAY_STORAGE", "'notjson'", "JSON object")
    proc = partway("serve", cwd=tmp_path, PARTWAY_PORT="eighty")
    one_line_error(proc, EXIT_USAGE, "PARTWAY_PORT", "'eighty'", "integer")
    proc = partway("serve", "--port", "70000", cwd=tmp_path)
    one_line_error(proc, EXIT_USAGE, "--port", "70000", "65535")


def test_unknown_variables_are_warned_and_log_levels_take_any_case(tmp_path: Path) -> None:
    proc = partway("config", "show", cwd=tmp_path, PARTWAY_PROT="9000", PARTWAY_LOG_LEVEL="DEBUG")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["log_level"] == "debug"
    assert "PARTWAY_PROT" in proc.stderr and "PARTWAY_PORT" in proc.stderr


def test_keys_land_where_the_server_looks(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = partway("keys", "create", "--app-id", "a", cwd=elsewhere)
    one_line_error(proc, EXIT_USAGE, "no partway database", "--init", "--data-dir")
    assert not (elsewhere / "partway-data").exists()

    data = tmp_path / "data"
    made = partway(
        "keys", "create", "--app-id", "a", "--init", "--data-dir", str(data), cwd=tmp_path
    )
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith("pw_") and f"database sqlite:///{data}/partway.db" in made.stderr
    second = partway("keys", "create", "--app-id", "b", cwd=tmp_path, PARTWAY_DATA_DIR=str(data))
    assert second.returncode == 0, second.stderr

    listed = partway("keys", "list", "--json", "--data-dir", str(data), cwd=tmp_path)
    keys = json.loads(listed.stdout)
    assert [k["app_id"] for k in keys] == ["a", "b"] and "database sqlite:" in listed.stderr
    assert made.stdout.strip() not in listed.stdout  # ids and dates, never the keys

    revoked = partway("keys", "revoke", keys[1]["id"], "--data-dir", str(data), cwd=tmp_path)
    assert revoked.returncode == 0 and "database sqlite:" in revoked.stderr, revoked.stderr
    again = partway("keys", "revoke", keys[1]["id"], "--data-dir", str(data), cwd=tmp_path)
    one_line_error(again, EXIT_FAILED, keys[1]["id"], "keys list")
    listed = json.loads(
        partway("keys", "list", "--json", "--data-dir", str(data), cwd=tmp_path).stdout
    )
    assert [k["revoked_at"] is not None for k in listed] == [False, True]


def test_revoked_key_is_refused_by_the_server(tmp_path: Path) -> None:
    data = tmp_path / "data"
    key = partway(
        "keys", "create", "--app-id", "a", "--init", "--data-dir", str(data), cwd=tmp_path
    )
    (record,) = json.loads(
        partway("keys", "list", "--json", "--data-dir", str(data), cwd=tmp_path).stdout
    )
    partway("keys", "revoke", record["id"], "--data-dir", str(data), cwd=tmp_path)
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "partway", "serve", "--port", str(port), "--data-dir", str(data)],
        env=clean_env(),
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        headers = {
            "Authorization": f"Bearer {key.stdout.strip()}",
            "x-apideck-app-id": "a",
            "x-apideck-consumer-id": "c",
        }
        deadline = time.monotonic() + 30
        while True:
            try:
                res = httpx.get(f"http://127.0.0.1:{port}/file-storage/drives", headers=headers)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        assert res.status_code == 401
    finally:
        process.terminate()
        process.wait(30)


def test_quota_and_reap_print_what_they_did(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    partway("keys", "create", "--app-id", "a", "--init", "--data-dir", data, cwd=tmp_path)
    who = ("--app-id", "a", "--consumer-id", "c", "--data-dir", data)
    shown = partway("quota", "show", *who, cwd=tmp_path)
    assert shown.stdout.strip() == "a/c: quota unlimited, used 0 bytes", shown.stdout
    changed = partway("quota", "set", *who, "--bytes", str(5 * 1024 * 1024), cwd=tmp_path)
    assert "quota 5242880 bytes (5.0 MiB)" in changed.stdout and "set" in changed.stderr
    reaped = partway("reap", "--data-dir", data, cwd=tmp_path)
    assert reaped.returncode == 0 and reaped.stdout.startswith("expired 0 session(s)")


def test_storage_cors_refuses_what_it_cannot_set(tmp_path: Path) -> None:
    """`partway storage cors`'s refusals, before any store is asked (it sets the rule on RGW
    and Azurite in tests/e2e/test_browser_direct_stores.py)."""
    stores = json.dumps({"disk": str(tmp_path / "disk"), "s3": "s3://bucket/p"})
    env = {"PARTWAY_DATA_DIR": str(tmp_path / "data"), "PARTWAY_STORAGE": stores}
    env["PARTWAY_DEFAULT_SERVICE"] = "disk"
    origin = ("--origin", "https://app.example")
    unknown = partway("storage", "cors", *origin, "--service", "nope", cwd=tmp_path, **env)
    one_line_error(unknown, EXIT_FAILED, "no service 'nope'", "disk, s3")
    disk = partway("storage", "cors", *origin, cwd=tmp_path, **env)
    one_line_error(disk, EXIT_USAGE, "on local disk partway serves the part URLs itself")
    path = partway(
        "storage",
        "cors",
        "--origin",
        "https://app.example/up",
        "--service",
        "s3",
        cwd=tmp_path,
        **env,
    )
    one_line_error(path, EXIT_USAGE, "an origin looks like https://app.example[:port]")


def test_the_page_names_an_icon_that_exists(tmp_path: Path) -> None:
    """Browsers ask for /favicon.ico (a 404 in the log) unless the page names an icon."""
    root = Path(__file__).resolve().parents[2] / "src" / "partway" / "web"
    page = (root / "index.html").read_text()
    assert '<link rel="icon" href="favicon.svg"' in page
    assert (root / "favicon.svg").read_text().startswith("<svg")
