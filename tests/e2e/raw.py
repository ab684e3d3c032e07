"""A raw HTTP/1.1 connection for tests that must control every byte on the wire."""

from __future__ import annotations

import json
import socket
from typing import Any

from tests.conftest import Server

from .helpers import SESSIONS


class Raw:
    """One keep-alive HTTP/1.1 connection, requests written by hand."""

    def __init__(self, server: Server, consumer: str | None = None) -> None:
        host, port = server.base_url.removeprefix("http://").split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=30)
        self.headers = server.headers(consumer)
        self.buffer = b""

    def head(self, method: str, path: str, length: int, **extra: str) -> bytes:
        return request_head(self.headers, method, path, length, **extra)

    def put_part(self, session_id: str, number: int, body: bytes, **extra: str) -> bytes:
        path = f"{SESSIONS}/{session_id}?part_number={number}"
        return self.head("PUT", path, len(body), **extra) + body

    def get(self, path: str) -> bytes:
        return self.head("GET", path, 0)

    def response(self) -> tuple[int, dict[str, str], dict[str, Any]]:
        while b"\r\n\r\n" not in self.buffer:
            self._more()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
        length = int(headers.get("content-length", "0"))
        while len(self.buffer) < length:
            self._more()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return int(status_line.split()[1]), headers, json.loads(body) if body else {}

    def _more(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("the server closed the connection")
        self.buffer += data


def request_head(
    headers: dict[str, str], method: str, path: str, length: int, **extra: str
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: test", f"Content-Length: {length}"]
    lines += [f"{k}: {v}" for k, v in {**headers, **extra}.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()
