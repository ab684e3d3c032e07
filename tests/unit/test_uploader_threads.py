"""The uploader's threads (client/uploader._Thread): waiting for one survives an interrupt."""

from __future__ import annotations

import signal
import threading
import time

import pytest

from partway.client.uploader import _Thread


def test_a_wait_interrupted_by_ctrl_c_can_be_waited_again_until_the_work_ends() -> None:
    """After Ctrl-C the uploader stops its sender and waits for the parts in flight before it
    closes the file: that second wait must not return while a worker still runs (in CPython
    3.11 a KeyboardInterrupt inside Thread.join can mark the thread as ended)."""
    finished = threading.Event()

    def part_in_flight() -> None:
        time.sleep(0.5)
        finished.set()

    # Python's own Ctrl-C handler, even where the test runner was started with SIGINT ignored
    # (a background job of a script is).
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        worker = _Thread(part_in_flight)
        main = threading.main_thread().ident
        assert main is not None
        # A real SIGINT to the main thread, as Ctrl-C sends: it interrupts the blocked wait.
        threading.Timer(0.1, signal.pthread_kill, (main, signal.SIGINT)).start()
        with pytest.raises(KeyboardInterrupt):
            worker.join()
        worker.join()
        assert finished.is_set()
    finally:
        signal.signal(signal.SIGINT, before)


def test_the_outcome_of_the_work() -> None:
    assert _Thread(lambda a, b: a + b, 2, 3).result() == 5
    with pytest.raises(ZeroDivisionError):
        _Thread(lambda: 1 / 0).result()
    failed = _Thread(lambda: 1 / 0)
    failed.join()
    assert isinstance(failed.failure(), ZeroDivisionError)
