"""The API's listening sockets (http/listeners.py): several on one port, all accepting."""

from __future__ import annotations

import select
import socket

import pytest

from partway.http.listeners import listening_sockets


def test_several_sockets_share_one_port_and_connections_reach_them() -> None:
    socks = listening_sockets("127.0.0.1", 0, 4, backlog=64)
    try:
        ports = {s.getsockname()[1] for s in socks}
        assert len(socks) == 4 and len(ports) == 1
        (port,) = ports
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(32)]
        accepted = 0
        while accepted < len(clients):
            ready, _, _ = select.select(socks, [], [], 5)
            assert ready, "a connection was never offered to any listener"
            for sock in ready:
                conn, _ = sock.accept()
                conn.close()
                accepted += 1
        for client in clients:
            client.close()
    finally:
        for sock in socks:
            sock.close()


def test_a_port_another_socket_listens_on_is_refused() -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        port = taken.getsockname()[1]
        with pytest.raises(OSError):
            listening_sockets("127.0.0.1", port, 4, backlog=64)
    finally:
        taken.close()
