"""A loopback TCP relay to a real server that can read its clients very slowly: an object store
that takes a part's bytes at a trickle, for tests of what a slow store may hold up."""

from __future__ import annotations

import contextlib
import socket
import threading
import time

# The relay's receive window (set before listen, so every accepted socket has it): small, so a
# sender fills it and the relay's pace is what the sender sees.
WINDOW = 64 * 1024
TRICKLE = 4096
FAST = 1024 * 1024


class SlowRelay:
    """Relays each connection to `upstream`; while `slow` is set, bytes towards upstream are
    read at about `rate` bytes a second per connection (answers always pass at full speed)."""

    def __init__(self, upstream: tuple[str, int], rate: int) -> None:
        self.upstream = upstream
        self.rate = rate
        self.slow = threading.Event()
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, WINDOW)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def endpoint(self) -> str:
        host, port = self._listener.getsockname()
        return f"http://{host}:{port}"

    def close(self) -> None:
        self.slow.clear()
        with self._lock:
            for sock in [self._listener, *self._sockets]:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, server]
            threading.Thread(target=self._pipe, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, False), daemon=True).start()

    def _pipe(self, source: socket.socket, target: socket.socket, towards_upstream: bool) -> None:
        with contextlib.suppress(OSError):
            while True:
                slow = towards_upstream and self.slow.is_set()
                data = source.recv(TRICKLE if slow else FAST)
                if not data:
                    break
                target.sendall(data)
                if slow:
                    time.sleep(len(data) / self.rate)
        with contextlib.suppress(OSError):
            target.shutdown(socket.SHUT_WR)
