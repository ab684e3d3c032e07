"""`partway upload` as a subprocess: SIGKILL mid-upload, resume, changed files, Ctrl-C."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from awscrt import checksums

from partway.client.models import Credentials
from partway.client.state import StateStore
from partway.client.syncapi import SyncApi
from partway.client.uploader import Uploader, UploadOptions, UploadProgress
from tests.conftest import Server, log_events, start_server, stop_server

MIB = 1024 * 1024
SIZE = 64 * MIB


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("cli"), {"PARTWAY_DEFAULT_PART_SIZE": str(MIB)})
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def direct_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Sessions on local disk are direct by default: parts go to URLs partway signs."""
    settings = {"PARTWAY_DEFAULT_PART_SIZE": str(MIB), "PARTWAY_DIRECT_SERVICES": '["local"]'}
    srv = start_server(tmp_path_factory.mktemp("cli-direct"), settings)
    yield srv
    stop_server(srv)


def cli_env(server: Server) -> dict[str, str]:
    return {
        **os.environ,
        "PARTWAY_SERVER": server.base_url,
        "PARTWAY_API_KEY": server.key,
        "PARTWAY_APP_ID": server.app_id,
        "PARTWAY_CONSUMER_ID": server.consumer_id,
    }


def random_file(path: Path, size: int) -> str:
    data = os.urandom(size)
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def start_upload(
    server: Server,
    path: Path,
    state: Path,
    *extra: str,
    preexec_fn: Callable[[], None] | None = None,
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "partway", "upload", str(path), "--state-dir", str(state), *extra],
        env=cli_env(server),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=preexec_fn,
    )


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _signal_state(pid: int) -> list[str]:
    """The process's ignored, blocked and caught signal masks (for a failure's message)."""
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    return [line for line in status if line.startswith(("SigIgn", "SigBlk", "SigCgt"))]


def wait_for_parts(proc: subprocess.Popen[str], count: int) -> str:
    """Read JSON events until `count` parts are done; returns the session id."""
    assert proc.stdout is not None
    done = 0
    session_id = ""
    for line in proc.stdout:
        event = json.loads(line)
        session_id = event.get("session_id") or session_id
        if event["event"] == "part":
            done += 1
            if done >= count:
                return session_id
    raise AssertionError(
        f"upload ended early: {proc.wait()} {proc.stderr.read() if proc.stderr else ''}"
    )


def part_puts(server: Server, session_id: str) -> Counter[int]:
    """Parts the server recorded, counted from its lifecycle log."""
    return Counter(
        int(e["part"])
        for e in log_events(server)
        if e.get("event") == "part.recorded" and e.get("session") == session_id
    )


def uploaded_parts(server: Server, session_id: str) -> list[int]:
    res = httpx.get(
        f"{server.base_url}/file-storage/upload-sessions/{session_id}", headers=server.headers()
    )
    parts: list[int] = res.json()["data"]["uploaded_parts"]
    return parts


def download_sha256(server: Server, file_id: str) -> str:
    digest = hashlib.sha256()
    with httpx.stream(
        "GET", f"{server.base_url}/file-storage/files/{file_id}/download", headers=server.headers()
    ) as res:
        for chunk in res.iter_bytes():
            digest.update(chunk)
    return digest.hexdigest()


def finish_upload(server: Server, path: Path, state: Path) -> dict[str, object]:
    proc = start_upload(server, path, state, "--json", "--parallel", "2")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err + out
    events = [json.loads(line) for line in out.splitlines()]
    final = events[-1]
    assert final["event"] == "file"
    file: dict[str, object] = final["file"]
    return file


def test_sigkill_then_resume_sends_only_missing_parts(server: Server, tmp_path: Path) -> None:
    source = tmp_path / "resume.bin"
    expected = random_file(source, SIZE)
    state = tmp_path / "state"
    proc = start_upload(server, source, state, "--json", "--parallel", "2")
    session_id = wait_for_parts(proc, 5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = uploaded_parts(server, session_id)
    assert 5 <= len(before) < SIZE // MIB, "the kill should land mid-upload"

    file = finish_upload(server, source, state)
    assert download_sha256(server, str(file["id"])) == expected
    # The default digest is the server's fastest: the file's CRC32C, combined by the client
    # from the parts' (those of the killed run CRC'd from the file), checked at finish.
    assert file["checksums"] == {"crc32c": crc32c_b64(source.read_bytes())}
    counts = part_puts(server, session_id)
    assert sorted(counts) == list(range(SIZE // MIB))
    assert set(counts.values()) == {1}, (
        f"parts sent twice: {[n for n, c in counts.items() if c > 1]}"
    )
    assert list(state.glob("*.json")) == []


def test_sha1_on_request_and_no_digest(server: Server, tmp_path: Path) -> None:
    source = tmp_path / "digests.bin"
    random_file(source, 3 * MIB + 5)
    data = source.read_bytes()
    sha = base64.b64encode(hashlib.sha1(data).digest()).decode()
    for flag, want in [("sha1", {"crc32c": crc32c_b64(data), "sha": sha}), ("none", None)]:
        proc = start_upload(server, source, tmp_path / flag, "--json", "--digest", flag)
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err + out
        file = json.loads(out.splitlines()[-1])["file"]
        assert file.get("checksums") == want
        httpx.delete(f"{server.base_url}/file-storage/files/{file['id']}", headers=server.headers())


def crc32c_b64(data: bytes) -> str:
    value: int = checksums.crc32c(data)
    return base64.b64encode(value.to_bytes(4, "big")).decode()


def test_changed_file_starts_a_new_session(server: Server, tmp_path: Path) -> None:
    source = tmp_path / "changing.bin"
    random_file(source, 16 * MIB)
    state = tmp_path / "state"
    proc = start_upload(server, source, state, "--json", "--parallel", "1")
    old_session = wait_for_parts(proc, 2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    expected = random_file(source, 16 * MIB)

    file = finish_upload(server, source, state)
    assert download_sha256(server, str(file["id"])) == expected
    res = httpx.get(
        f"{server.base_url}/file-storage/upload-sessions/{old_session}", headers=server.headers()
    )
    assert res.status_code == 404


def interruptible_upload(
    server: Server, source: Path, state: Path, parallel: int
) -> tuple[subprocess.Popen[str], str]:
    """An upload that hears Ctrl-C as from a terminal (a child inherits ignored and blocked
    signals, and a long test session's state must not decide whether the uploader hears this
    one), once two of its parts are done; and its session's id."""
    proc = start_upload(
        server, source, state, "--json", "--parallel", str(parallel), preexec_fn=_default_sigint
    )
    return proc, wait_for_parts(proc, 2)


def assert_resumes(server: Server, source: Path, state: Path, expected: str) -> None:
    """The next run finishes the interrupted upload with the source's bytes."""
    file = finish_upload(server, source, state)
    assert download_sha256(server, str(file["id"])) == expected


def test_ctrl_c_stops_cleanly_and_says_how_to_resume(server: Server, tmp_path: Path) -> None:
    source, state = tmp_path / "interrupted.bin", tmp_path / "state"
    expected = random_file(source, 32 * MIB)
    proc, _ = interruptible_upload(server, source, state, parallel=1)
    signals = _signal_state(proc.pid)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, (signals, out[-2000:], err[-2000:])
    assert "resume" in out + err
    assert_resumes(server, source, state, expected)


@pytest.mark.parametrize("mode", ["proxied", "direct"])
def test_ctrl_c_against_a_frozen_server_exits_at_once(
    request: pytest.FixtureRequest, mode: str, tmp_path: Path
) -> None:
    """A server (or, direct, the store the parts go to) that stops answering mid-upload: Ctrl-C
    ends the upload at once instead of after the 60 s socket timeout, and the next run resumes
    with correct bytes."""
    server: Server = request.getfixturevalue("server" if mode == "proxied" else "direct_server")
    source, state = tmp_path / "frozen.bin", tmp_path / "state"
    expected = random_file(source, 64 * MIB)
    proc, session_id = interruptible_upload(server, source, state, parallel=2)
    res = httpx.get(
        f"{server.base_url}/file-storage/upload-sessions/{session_id}", headers=server.headers()
    )
    assert res.json()["data"]["upload_mode"] == mode
    server.process.send_signal(signal.SIGSTOP)
    try:
        time.sleep(0.5)  # every worker is now blocked sending a part or waiting for its answer
        began = time.monotonic()
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise AssertionError("Ctrl-C waited for the frozen server") from None
        took = time.monotonic() - began
    finally:
        server.process.send_signal(signal.SIGCONT)
    assert proc.returncode == 130, (out[-2000:], err[-2000:])
    assert took < 5, took
    assert "resume" in out + err
    assert_resumes(server, source, state, expected)


def test_plain_progress_lines_and_clear_errors(server: Server, tmp_path: Path) -> None:
    source = tmp_path / "plain.bin"
    random_file(source, 3 * MIB)
    state = tmp_path / "state"
    proc = start_upload(server, source, state)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "parts 3/3" in err and "MiB/s" in err
    assert "→ file file_" in err
    again = start_upload(server, source, tmp_path / "other-state")
    _out, err = again.communicate(timeout=60)
    assert again.returncode == 1
    assert "409 ConflictError" in err and "plain.bin" in err
    env = {**cli_env(server), "PARTWAY_API_KEY": "pw_wrong"}
    bad = subprocess.run(
        [sys.executable, "-m", "partway", "sessions", "list"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 1 and "401 UnauthorizedError" in bad.stderr


def test_sessions_and_download_commands(server: Server, tmp_path: Path) -> None:
    env = cli_env(server)

    def run(*a: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "partway", *a]
        return subprocess.run(command, env=env, capture_output=True, text=True, check=True)

    created = httpx.post(
        f"{server.base_url}/file-storage/upload-sessions",
        headers=server.headers(),
        json={"name": "listed.bin", "parent_folder_id": "root", "size": 5},
    ).json()["data"]["id"]
    assert created in run("sessions", "list").stdout
    assert json.loads(run("sessions", "show", created, "--json").stdout)["name"] == "listed.bin"
    run("sessions", "abort", created)
    assert created not in run("sessions", "list").stdout

    source = tmp_path / "down.bin"
    expected = random_file(source, 2 * MIB + 3)
    file = finish_upload(server, source, tmp_path / "state")
    target = tmp_path / "back.bin"
    run("download", str(file["id"]), "-o", str(target))
    assert hashlib.sha256(target.read_bytes()).hexdigest() == expected


@pytest.mark.parametrize(
    ("digest", "file_data"),
    [
        # CRC32C parts are read through a mapping of the file, one per worker at a time.
        ("auto", 4 * 8 * MIB),
        # Parts go out by sendfile: none of the file passes through the uploader's memory.
        ("none", 8 * MIB),
        # Each worker reads its part into its buffer; the whole-file hasher reads 1 MiB blocks.
        ("sha1", 5 * 8 * MIB),
    ],
)
def test_uploader_memory_stays_within_its_parts(
    tmp_path: Path, digest: str, file_data: int
) -> None:
    """A 256 MiB file in 8 MiB parts, 4 in parallel, raises the uploader's peak RSS above the
    same upload of a 1-byte file by at most the file data the digest needs in memory. Measured
    against that baseline, not as a fixed figure: the interpreter's own size varies by machine."""
    srv = start_server(tmp_path, {"PARTWAY_DEFAULT_PART_SIZE": str(8 * MIB), "PARTWAY_FSYNC": "0"})
    try:
        peaks = []
        for size in (1, 256 * MIB):
            source = tmp_path / f"{size}.bin"
            expected = random_file(source, size)
            extra = ("--json", "--parallel", "4", "--digest", digest)
            proc = start_upload(srv, source, tmp_path / f"state-{size}", *extra)
            peak = 0
            while proc.poll() is None:
                peak = max(peak, _peak_rss(proc.pid))
                time.sleep(0.01)
            out, err = proc.communicate()
            assert proc.returncode == 0, err
            file_id = json.loads(out.splitlines()[-1])["file"]["id"]
            assert download_sha256(srv, file_id) == expected
            peaks.append(peak)
        baseline, big = peaks
        assert baseline > 0
        assert big - baseline < file_data, (baseline / MIB, big / MIB)
    finally:
        stop_server(srv)


def _peak_rss(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def upload_in_process(
    server: Server, path: Path, notify: Callable[[UploadProgress], None]
) -> dict[str, object]:
    creds = Credentials(server.key, server.app_id, server.consumer_id)

    with SyncApi(server.base_url, creds) as api:
        uploader = Uploader(api, server.base_url, server.app_id, server.consumer_id)
        return uploader.upload(path, UploadOptions(parallel=3), notify)


def test_parts_sent_by_worker_threads_are_each_reported_once(
    server: Server, tmp_path: Path
) -> None:
    """Proxied parts go one after another in each worker thread; the event loop hears of each
    (progress, its CRC32C for the whole file's) exactly once."""
    source = tmp_path / "threads.bin"
    random_file(source, 8 * MIB + 5)  # 9 parts of 1 MiB, the last 5 bytes
    seen: list[tuple[int, int, int]] = []

    def notify(p: UploadProgress) -> None:
        if p.event == "part":
            seen.append((p.detail["part"], p.parts_done, p.done_bytes))

    file = upload_in_process(server, source, notify)
    assert sorted(number for number, _, _ in seen) == list(range(9))
    assert [done for _, done, _ in seen] == list(range(1, 10))
    assert seen[-1][2] == 8 * MIB + 5 and file["size"] == 8 * MIB + 5


def test_a_failing_progress_callback_fails_the_upload_and_starts_no_more_parts(
    server: Server, tmp_path: Path
) -> None:
    source = tmp_path / "stops.bin"
    random_file(source, 32 * MIB)
    sessions: list[str] = []

    def notify(p: UploadProgress) -> None:
        sessions.append(p.session_id)
        if p.event == "part":
            raise BrokenPipeError("the progress output went away")

    with pytest.raises(BrokenPipeError):
        upload_in_process(server, source, notify)
    # The parts in flight when it failed end; then no thread takes another (how many got
    # through first depends on how soon the event loop ran the callback: not all 32).
    assert 1 <= len(part_puts(server, sessions[-1])) < 32


def test_a_stopped_direct_upload_returns_at_once_from_a_frozen_store(
    direct_server: Server, tmp_path: Path
) -> None:
    """Uploader.stop() from another thread, while direct parts are stuck in a store that stopped
    answering: upload() raises InterruptedError within about STOP_GRACE (the parts in flight end
    on their own later), and the next run resumes with correct bytes."""
    server = direct_server
    source, state = tmp_path / "stopped.bin", tmp_path / "state"
    expected = random_file(source, 64 * MIB)
    creds = Credentials(server.key, server.app_id, server.consumer_id)
    two_parts = threading.Event()
    outcome: list[BaseException] = []

    def notify(p: UploadProgress) -> None:
        if p.event == "part" and p.parts_done >= 2:
            two_parts.set()

    with SyncApi(server.base_url, creds) as api:
        who = (server.base_url, server.app_id, server.consumer_id)
        uploader = Uploader(api, *who, StateStore(state))

        def run() -> None:
            try:
                uploader.upload(source, UploadOptions(parallel=2), notify)
            except BaseException as exc:
                outcome.append(exc)

        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        assert two_parts.wait(60), "no parts went out"
        server.process.send_signal(signal.SIGSTOP)
        try:
            time.sleep(0.5)  # both workers are now stuck on a part
            began = time.monotonic()
            uploader.stop()
            worker.join(10)
            took = time.monotonic() - began
        finally:
            server.process.send_signal(signal.SIGCONT)
    assert not worker.is_alive(), "stop() waited for the frozen store"
    assert took < 5, took
    assert len(outcome) == 1 and isinstance(outcome[0], InterruptedError), outcome
    assert_resumes(server, source, state, expected)
