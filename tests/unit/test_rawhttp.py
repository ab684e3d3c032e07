"""client/rawhttp.py against a socket server of the test's own: answers, a connection closed
without one (a transport error, so the retry policy applies), a file shorter than its span."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from partway.client.rawhttp import FileShrank, FileSpan, RawHttp


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    sock = socket.create_server(("127.0.0.1", 0))
    yield sock
    sock.close()


def serve_once(listener: socket.socket, answer: bytes, got: list[bytes]) -> threading.Thread:
    def run() -> None:
        conn, _ = listener.accept()
        with conn:
            data = b""
            while b"\r\n\r\n" not in data or len(data.partition(b"\r\n\r\n")[2]) < 5:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
            got.append(data)
            conn.sendall(answer)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def url(listener: socket.socket) -> str:
    return f"http://127.0.0.1:{listener.getsockname()[1]}"


def test_a_body_from_the_file_and_the_answer(listener: socket.socket, tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"0123456789")
    got: list[bytes] = []
    answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}"
    thread = serve_once(listener, answer, got)
    put = RawHttp(url(listener), {"X-Key": "k"})
    with path.open("rb") as f:
        res = put.request("PUT", "/p", {"part_number": "1"}, {}, FileSpan(f.fileno(), 3, 5))
    thread.join()
    put.close_all()
    assert res.status_code == 200 and res.json() == {}
    head, _, body = got[0].partition(b"\r\n\r\n")
    assert head.startswith(b"PUT /p?part_number=1 HTTP/1.1") and b"x-key: k" in head
    assert b"content-length: 5" in head and body == b"34567"


def test_no_answer_is_a_transport_error(listener: socket.socket) -> None:
    got: list[bytes] = []
    thread = serve_once(listener, b"", got)
    put = RawHttp(url(listener), {})
    with pytest.raises(httpx.TransportError):
        put.request("PUT", "/p", {}, {}, memoryview(b"hello"))
    thread.join()
    put.close_all()


def test_a_shrunk_file_is_noticed(listener: socket.socket, tmp_path: Path) -> None:
    path = tmp_path / "short.bin"
    path.write_bytes(b"abc")
    put = RawHttp(url(listener), {})
    accepted: list[socket.socket] = []
    thread = threading.Thread(target=lambda: accepted.append(listener.accept()[0]))
    thread.start()
    with path.open("rb") as f, pytest.raises(FileShrank):
        put.request("PUT", "/p", {}, {}, FileSpan(f.fileno(), 0, 10))
    thread.join()
    accepted[0].close()
    put.close_all()


def test_a_body_larger_than_the_socket_buffers_waits_for_a_slow_reader(
    listener: socket.socket, tmp_path: Path
) -> None:
    """sendfile(2) on a socket with a timeout (non-blocking underneath) returns EAGAIN once the
    buffers are full: the sender must wait for room, not fail the part."""
    payload = bytes(range(256)) * (32 * 1024)  # 8 MiB: far more than loopback buffers hold
    path = tmp_path / "big.bin"
    path.write_bytes(payload)
    got: list[bytes] = []
    reading = threading.Event()

    def run() -> None:
        conn, _ = listener.accept()
        with conn:
            reading.wait()  # the sender meets full buffers before a byte is read
            data = b""
            while len(data.partition(b"\r\n\r\n")[2]) < len(payload):
                chunk = conn.recv(1 << 20)
                if not chunk:
                    break
                data += chunk
            got.append(data)
            conn.sendall(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")

    thread = threading.Thread(target=run)
    thread.start()
    put = RawHttp(url(listener), {})
    # Let the reader start only once the sender is surely blocked on a full buffer.
    threading.Timer(0.3, reading.set).start()
    with path.open("rb") as f:
        res = put.request("PUT", "/p", {}, {}, FileSpan(f.fileno(), 0, len(payload)))
    thread.join()
    put.close_all()
    assert res.status_code == 204
    assert got[0].partition(b"\r\n\r\n")[2] == payload


def test_a_server_that_takes_no_bytes_fails_the_part_after_the_timeout(
    listener: socket.socket, tmp_path: Path
) -> None:
    """The socket blocks (no poll per send), but a send that waits longer than the timeout for
    room gives up: a transport error, so the retry policy applies."""
    path = tmp_path / "big.bin"
    path.write_bytes(bytes(32 * 1024 * 1024))  # far more than loopback buffers hold
    accepted: list[socket.socket] = []
    thread = threading.Thread(target=lambda: accepted.append(listener.accept()[0]))
    thread.start()
    put = RawHttp(url(listener), {}, timeout=0.3)
    began = time.monotonic()
    with path.open("rb") as f, pytest.raises(httpx.TransportError):
        put.request("PUT", "/p", {}, {}, FileSpan(f.fileno(), 0, 32 * 1024 * 1024))
    assert time.monotonic() - began < 5
    thread.join()
    accepted[0].close()
    put.close_all()


@pytest.mark.parametrize(
    "answer",
    [b"", b"HTTP/1.1 200 OK\r\ncontent-len", b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\n{}"],
    ids=["nothing", "half a head", "half a body"],
)
def test_an_answer_that_stops_coming_is_a_transport_error(
    listener: socket.socket, answer: bytes
) -> None:
    got: list[bytes] = []
    done = threading.Event()

    def run() -> None:
        conn, _ = listener.accept()
        with conn:
            got.append(conn.recv(65536))
            conn.sendall(answer)
            done.wait(5)  # held open: the client's receive times out

    thread = threading.Thread(target=run)
    thread.start()
    put = RawHttp(url(listener), {}, timeout=0.3)
    with pytest.raises(httpx.TransportError):
        put.request("PUT", "/p", {}, {}, memoryview(b"hello"))
    done.set()
    thread.join()
    put.close_all()
