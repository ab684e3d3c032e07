"""The API's listening sockets: several bound to the one port (SO_REUSEPORT).

libuv, under uvloop, accepts one connection per listening socket per turn of the event loop.
A busy loop's turn takes tens of milliseconds, and with a single socket new connections waited
in the kernel's queue for seconds: 1,000 uploads starting within 2 s left ~650 queued,
accepted at ~40 a second (strace: one accept4 a turn, never EAGAIN). Each socket added to the
port is one more accept a turn; the kernel spreads new connections over them. Only processes
of the same user can join the port, and `check_port_free` has already refused a port in use.
"""

from __future__ import annotations

import contextlib
import socket


def listening_sockets(host: str, port: int, count: int, backlog: int) -> list[socket.socket]:
    """`count` sockets listening on `port` at each address `host` resolves to (one where the
    platform lacks SO_REUSEPORT). Port 0: the first one's port, for all."""
    if not hasattr(socket, "SO_REUSEPORT"):
        count = 1
    addresses = dict.fromkeys(
        (family, address)
        for family, _, _, _, address in socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    )
    made: list[socket.socket] = []
    try:
        for family, address in addresses:
            for _ in range(count):
                sock = socket.socket(family, socket.SOCK_STREAM)
                made.append(sock)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if count > 1:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                sock.bind((address[0], port, *address[2:]))
                port = sock.getsockname()[1]
                sock.listen(backlog)
                sock.setblocking(False)
    except BaseException:
        for sock in made:
            with contextlib.suppress(OSError):
                sock.close()
        raise
    return made
