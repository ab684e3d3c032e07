"""Socket servers of a test's own, for clients meeting something else than partway."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable


def handle_each(listener: socket.socket, handle: Callable[[socket.socket], None]) -> None:
    """Each connection `listener` accepts, handled by `handle` then closed, until the listener
    is closed (on a daemon thread)."""

    def run() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                handle(conn)

    threading.Thread(target=run, daemon=True).start()
