"""client/rawhttp.py against a socket server of the test's own: answers, a connection closed
without one (a transport error, so the retry policy applies), a file shorter than its span."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from partway.client.rawhttp import FileShrank, FileSpan, RawHttp
from partway.client.retry import never_works
from tests.sockets import handle_each


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


def serve_each(listener: socket.socket, answers: list[bytes], got: list[bytes]) -> threading.Thread:
    """Answer requests in turn with `answers`, each on the connection it came on; an answer of
    b"close" closes that connection instead (as a server's idle timeout does)."""

    def run() -> None:
        pending = list(answers)
        while pending:
            conn, _ = listener.accept()
            with conn:
                while pending:
                    request = conn.recv(65536)
                    if not request:
                        break
                    got.append(request)
                    answer = pending.pop(0)
                    if answer == b"close":
                        break
                    conn.sendall(answer)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_api_calls_share_a_connection_and_read_chunked_and_interim_answers(
    listener: socket.socket,
) -> None:
    got: list[bytes] = []
    chunked = (
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
        b'4\r\n{"a"\r\n3;ext=1\r\n: 1\r\n1\r\n}\r\n0\r\n\r\n'
    )
    interim = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\n{}"
    thread = serve_each(listener, [chunked, interim], got)
    client = RawHttp(url(listener), {"Authorization": "Bearer k"})
    first = client.request("GET", "/x", {"q": "1 2"})
    second = client.request("POST", "/y", body=b'{"n":1}', headers={"content-type": "a/b"})
    thread.join(5)
    client.close_all()
    assert first.status_code == 200 and first.json() == {"a": 1}
    assert second.status_code == 201 and second.reason_phrase == "Created"
    assert got[0].startswith(b"GET /x?q=1+2 HTTP/1.1\r\n") and b"authorization: Bearer k" in got[0]
    assert got[1].startswith(b"POST /y HTTP/1.1\r\n") and got[1].endswith(b'\r\n\r\n{"n":1}')
    assert b"content-length: 7\r\n" in got[1] and len(got) == 2  # one connection, both calls


def test_a_keep_alive_connection_the_server_closed_is_replaced(listener: socket.socket) -> None:
    """Idle longer than the server's keep-alive timeout, the connection is gone: the next call
    opens a new one instead of failing."""
    got: list[bytes] = []
    ok = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"
    thread = serve_each(listener, [ok, b"close", ok], got)
    client = RawHttp(url(listener), {})
    assert client.request("GET", "/a").status_code == 200
    # The server reads the next request and closes without answering: that one is lost...
    with pytest.raises(httpx.RemoteProtocolError, match="disconnected"):
        client.request("GET", "/b")
    # ...and the next call goes out on a new connection.
    assert client.request("GET", "/c").status_code == 200
    thread.join(5)
    client.close_all()
    assert [g.split(b" ")[1] for g in got] == [b"/a", b"/b", b"/c"]


def test_an_idle_connection_closed_by_the_server_is_not_used_again(
    listener: socket.socket,
) -> None:
    got: list[bytes] = []
    ok = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"
    accepted: list[socket.socket] = []

    def run() -> None:
        for _ in range(2):
            conn, _ = listener.accept()
            accepted.append(conn)
            got.append(conn.recv(65536))
            conn.sendall(ok)
            if len(accepted) == 1:
                conn.close()  # at once, as an idle timeout would later: the client must see it

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    client = RawHttp(url(listener), {})
    assert client.request("GET", "/a").status_code == 200
    time.sleep(0.2)  # the close has arrived
    assert client.request("GET", "/b").status_code == 200
    thread.join(5)
    client.close_all()
    accepted[-1].close()
    assert len(got) == 2


def test_nothing_listening_is_a_connect_error() -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]  # closed below: nothing listens there
    client = RawHttp(f"http://127.0.0.1:{port}", {})
    with pytest.raises(httpx.ConnectError):
        client.request("GET", "/healthz")


def test_an_answer_that_is_not_http_is_a_protocol_error_not_a_lost_answer(
    listener: socket.socket,
) -> None:
    """What the retry policy takes for "this address is not an HTTP server" (retry.never_works)."""
    got: list[bytes] = []
    thread = serve_each(listener, [b"SSH-2.0-OpenSSH_9.2\r\n"], got)
    client = RawHttp(url(listener), {})
    with pytest.raises(httpx.RemoteProtocolError) as caught:
        client.request("GET", "/healthz")
    thread.join(5)
    client.close_all()
    assert "disconnect" not in str(caught.value).lower()


def test_an_answer_sent_before_the_body_was_read_is_the_outcome(listener: socket.socket) -> None:
    """A server refuses a part before reading it (the session is gone, the part too large) and
    closes: the send fails, but the refusal is there to read and is what the caller gets (not
    a transport error that retries and then blames the network)."""

    def refuse(conn: socket.socket) -> None:
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 413 Payload Too Large\r\ncontent-length: 2\r\n\r\n{}")
        conn.shutdown(socket.SHUT_WR)
        time.sleep(0.3)  # the client's send meets a closed window, then a reset

    handle_each(listener, refuse)
    client = RawHttp(url(listener), {})
    res = client.request("PUT", "/p", body=memoryview(bytes(64 << 20)))
    client.close_all()
    assert res.status_code == 413


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\n\r\n{",
        b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n{",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\n{",
    ],
    ids=["until closed", "sized", "chunked"],
)
def test_an_answer_that_stalls_midway_is_a_read_timeout(
    listener: socket.socket, answer: bytes
) -> None:
    """Not its first bytes taken for the whole: a body that ends with the connection has not
    ended while the connection is open."""
    done = threading.Event()

    def stall(conn: socket.socket) -> None:
        conn.recv(65536)
        conn.sendall(answer)
        done.wait(5)

    handle_each(listener, stall)
    client = RawHttp(url(listener), {}, timeout=0.3)
    with pytest.raises(httpx.ReadTimeout):
        client.request("GET", "/x")
    done.set()
    client.close_all()


def test_a_binary_greeting_then_a_hang_up_is_not_taken_for_a_lost_answer(
    listener: socket.socket,
) -> None:
    """A TLS server answering a plain request: an alert without a newline, then it closes."""

    def alert(conn: socket.socket) -> None:
        conn.recv(65536)
        conn.sendall(b"\x15\x03\x01\x00\x02\x02\x46")

    handle_each(listener, alert)
    client = RawHttp(url(listener), {})
    with pytest.raises(httpx.RemoteProtocolError) as caught:
        client.request("GET", "/healthz")
    client.close_all()
    assert never_works(caught.value)


def test_the_host_header_carries_no_userinfo(listener: socket.socket) -> None:
    got: list[bytes] = []
    thread = serve_each(listener, [b"HTTP/1.1 204 No Content\r\n\r\n"], got)
    client = RawHttp(url(listener).replace("http://", "http://user:pw@"), {})
    assert client.request("GET", "/x").status_code == 204
    thread.join(5)
    client.close_all()
    port = listener.getsockname()[1]
    assert f"host: 127.0.0.1:{port}\r\n".encode() in got[0] and b"user" not in got[0]


def test_an_http_1_0_answer_without_keep_alive_ends_its_connection(
    listener: socket.socket,
) -> None:
    got: list[bytes] = []
    old = b"HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\n{}"
    thread = serve_each(listener, [old, b"HTTP/1.1 204 No Content\r\n\r\n"], got)
    client = RawHttp(url(listener), {})
    assert client.request("GET", "/a").headers["connection"] == "close"
    assert client.request("GET", "/b").status_code == 204  # on a new connection
    thread.join(5)
    client.close_all()


def test_folded_header_lines_continue_the_field(listener: socket.socket) -> None:
    got: list[bytes] = []
    folded = b"HTTP/1.1 200 OK\r\nx-note: one\r\n  two\r\ncontent-length: 2\r\n\r\n{}"
    thread = serve_each(listener, [folded], got)
    client = RawHttp(url(listener), {})
    assert client.request("GET", "/a").headers["x-note"] == "one two"
    thread.join(5)
    client.close_all()


def test_an_endless_header_line_is_a_protocol_error(listener: socket.socket) -> None:
    got: list[bytes] = []
    thread = serve_each(listener, [b"HTTP/1.1 200 OK\r\nx-a: " + b"a" * 70000], got)
    client = RawHttp(url(listener), {}, timeout=2)
    with pytest.raises(httpx.RemoteProtocolError) as caught:
        client.request("GET", "/a")
    thread.join(5)
    client.close_all()
    assert never_works(caught.value)


def test_a_header_value_with_a_line_break_is_refused_before_sending() -> None:
    client = RawHttp("http://127.0.0.1:9", {"Authorization": "Bearer k\r\nx-evil: 1"})
    with pytest.raises(httpx.LocalProtocolError):
        client.request("GET", "/a")


@pytest.mark.parametrize("stuck", ["sending", "waiting for the answer"])
def test_abort_ends_a_request_in_flight_at_once_and_refuses_more(
    listener: socket.socket, tmp_path: Path, stuck: str
) -> None:
    """A server that takes no bytes, or takes them and never answers: abort (an upload stopped)
    ends the request in another thread at once, not after the 60 s timeout."""
    size = 32 * 1024 * 1024 if stuck == "sending" else 10  # far more than loopback buffers hold
    path = tmp_path / "big.bin"
    path.write_bytes(bytes(size))
    accepted: list[socket.socket] = []
    thread = threading.Thread(target=lambda: accepted.append(listener.accept()[0]))
    thread.start()
    put = RawHttp(url(listener), {})
    with path.open("rb") as f:
        ended_by_abort(put, lambda: put.request("PUT", "/p", {}, {}, FileSpan(f.fileno(), 0, size)))
    with pytest.raises(InterruptedError):  # and no new connection is made
        put.request("GET", "/healthz")
    thread.join()
    accepted[0].close()
    put.close_all()


def ended_by_abort(put: RawHttp, request: Callable[[], object]) -> None:
    """`request`, run in a thread, ends with InterruptedError within 2 s of `put.abort()`
    (called 0.4 s in)."""
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(request())
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    time.sleep(0.4)
    began = time.monotonic()
    put.abort()
    thread.join(10)
    assert time.monotonic() - began < 2
    assert len(outcome) == 1 and isinstance(outcome[0], InterruptedError), outcome


def test_abort_ends_a_connect_in_progress() -> None:
    """A server whose listen backlog is full leaves SYNs unanswered (as a vanished network does):
    the connect in progress ends with the abort, not at its timeout."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        filling = [socket.socket() for _ in range(3)]
        for sock in filling:
            sock.setblocking(False)
            sock.connect_ex(("127.0.0.1", port))
        time.sleep(0.2)
        put = RawHttp(f"http://127.0.0.1:{port}", {}, connect_timeout=8.0)
        try:
            ended_by_abort(put, lambda: put.request("GET", "/healthz"))
        finally:
            for sock in filling:
                sock.close()


def test_an_answer_cut_short_by_abort_is_not_taken_for_a_whole_one(
    listener: socket.socket,
) -> None:
    """A body that ends with the connection (no length): the abort's end of stream is not the
    server's, so the request raises InterruptedError rather than return half a body."""
    head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n"

    def half(conn: socket.socket) -> None:
        conn.recv(65536)
        conn.sendall(head + b'{"data": {"id": "s1", ')
        time.sleep(3)  # the rest never comes

    handle_each(listener, half)
    put = RawHttp(url(listener), {})
    ended_by_abort(put, lambda: put.request("GET", "/x"))
