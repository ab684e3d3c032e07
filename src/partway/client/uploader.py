"""Upload one file fast and resumably: parallel parts, per-part and whole-file digests.

The digest is the fastest the server offers (CRC32C from partway, SHA-1 elsewhere) unless one
is asked for. With CRC32C the whole-file digest is combined from the parts' CRCs: the file is
read once; with SHA-1 a second reader hashes the whole file alongside the parts.

Memory: each worker reuses one part-sized buffer, an anonymous mapping whose pages cost memory
only once written: by SHA-1 parts, TLS and direct parts (CRC32C parts are mapped from the file
and sent by sendfile, parts without a digest only sent). The whole-file hasher reads one 1 MiB
block, so at most (parallel + 1) × part_size bytes of the file are in memory at once.
"""

from __future__ import annotations

import functools
import hashlib
import os
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, NamedTuple, TypeVar, cast

from ..wire import sha1_digest_header
from .calls import NewSession
from .digests import choose, crc_of_range, whole_crc_header
from .models import ApiError, SessionInfo
from .parts import FileShrank, PartJob, PartSender, part_buffer, send_in_turn
from .retry import is_transport_error
from .state import FileIdentity, StateStore, UploadRecord
from .syncapi import SyncApi

if TYPE_CHECKING:
    from .direct import DirectSender, PartRead

HASH_BLOCK = 1024 * 1024
# How long a stopped upload waits for its parts in flight before it returns without them (a
# store that stopped answering holds a direct part until its socket's 60 s timeout).
STOP_GRACE = 1.0
T = TypeVar("T")


class UploadOptions(NamedTuple):
    folder_id: str = "root"
    name: str | None = None
    parallel: int = 4
    part_size_hint: int | None = None
    drive_id: str | None = None
    digest: str = "auto"  # one of client.digests.CHOICES
    # Parts straight into the object store when the server offers it (S3, Azure).
    direct: bool = True


class UploadProgress:
    """What an upload has done so far; handed to the progress callback after every change.
    (Neither this nor the records above are dataclasses: with the inspect module it loads,
    dataclasses cost `partway upload` ~10 ms of its start.)"""

    def __init__(
        self,
        name: str,
        total_bytes: int,
        parts_total: int = 0,
        done_bytes: int = 0,
        parts_done: int = 0,
        resumed_parts: int = 0,
        session_id: str = "",
        event: str = "start",
        detail: dict[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.total_bytes = total_bytes
        self.parts_total = parts_total
        self.done_bytes = done_bytes
        self.parts_done = parts_done
        self.resumed_parts = resumed_parts
        self.session_id = session_id
        self.event = event
        self.detail: dict[str, Any] = {} if detail is None else detail

    def __repr__(self) -> str:
        return f"UploadProgress({vars(self)})"


ProgressCallback = Callable[[UploadProgress], None]


class FileChanged(Exception):
    """The file changed while it was being uploaded."""


def part_count(size: int, part_size: int) -> int:
    return max(1, -(-size // part_size))


def part_range(size: int, part_size: int, number: int) -> tuple[int, int]:
    start = number * part_size
    return start, max(0, min(part_size, size - start))


def _whole_file_digest(path: Path, stop: threading.Event) -> str | None:
    digest = hashlib.sha1()
    block = bytearray(HASH_BLOCK)  # one buffer, refilled: no allocation per block
    with path.open("rb", buffering=0) as f:
        while got := f.readinto(block):
            if stop.is_set():
                return None
            digest.update(memoryview(block)[:got])
    return sha1_digest_header(digest.digest())


class _Thread(Generic[T]):
    """`work(*args)` on a thread of its own; `result()` waits for it and returns its result or
    raises its exception. (Not concurrent.futures: it and the logging it imports are ~10 ms
    of `partway upload`'s start.)"""

    def __init__(self, work: Callable[..., T], *args: Any, name: str = "partway") -> None:
        self._work, self._args = work, args
        self._outcome: tuple[T | None, BaseException | None] = (None, None)
        # Waited on instead of Thread.join: a KeyboardInterrupt that lands in join() can leave
        # the thread marked as ended while it still runs (CPython 3.11), and the uploader then
        # closed the file under a worker still sending from it.
        self._done = threading.Event()
        threading.Thread(target=self._run, name=name, daemon=True).start()

    def _run(self) -> None:
        try:
            self._outcome = (self._work(*self._args), None)
        except BaseException as exc:
            self._outcome = (None, exc)
        finally:
            self._done.set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread to end (at most `timeout` seconds); whether it has."""
        return self._done.wait(timeout)

    def failure(self) -> BaseException | None:
        return self._outcome[1]

    def result(self) -> T:
        self.join()
        value, failure = self._outcome
        if failure is not None:
            raise failure
        return cast(T, value)


def _close_after(threads: list[_Thread[None]], sender: PartSender | DirectSender, fd: int) -> None:
    for thread in threads:
        thread.join()
    try:
        sender.close()
    finally:
        os.close(fd)


def _first_failure(threads: list[_Thread[None]]) -> BaseException | None:
    """A worker's own failure, rather than the "stopped" of the workers it stopped."""
    failures = [exc for t in threads if (exc := t.failure()) is not None]
    real = [exc for exc in failures if not isinstance(exc, InterruptedError)]
    first = real or failures
    return first[0] if first else None


def _combined_crc(identity: FileIdentity, part_size: int, crcs: dict[int, int]) -> str:
    """The whole file's CRC32C digest from its parts'; parts an earlier run sent are CRC'd from
    the file here (only those)."""
    count = part_count(identity.size, part_size)
    sizes = [part_range(identity.size, part_size, n)[1] for n in range(count)]
    fd = os.open(identity.path, os.O_RDONLY)
    try:
        for number, size in enumerate(sizes):
            if number not in crcs:
                crcs[number] = crc_of_range(fd, number * part_size, size)
    finally:
        os.close(fd)
    return whole_crc_header(crcs, sizes)


def _sent_direct(sender: DirectSender, got: PartRead, ticket: dict[str, Any]) -> int:
    sender.send(got.view, ticket)
    return got.crc


class Uploader:
    """Blocking: the parts go out from worker threads of its own. `upload_async` (the package's)
    runs it in a thread for asyncio code."""

    def __init__(
        self,
        api: SyncApi,
        server: str,
        app_id: str,
        consumer_id: str,
        state: StateStore | None = None,
    ) -> None:
        self._api = api
        self._server = server
        self._app_id = app_id
        self._consumer_id = consumer_id
        self._state = state
        self._stopped = threading.Event()
        self._senders: list[PartSender | DirectSender] = []  # those sending now

    def stop(self) -> None:
        """From another thread: end the upload soon. No more parts are sent and no request is
        retried; parts in flight get STOP_GRACE to end, then upload() returns without them.
        The session is not finished (or, if its finish was already on its way, the resume
        record stays to find the file); upload() raises InterruptedError, and running it again
        (with a new SyncApi: this one is stopped too) resumes."""
        self._stopped.set()
        self._api.stop()
        for sender in list(self._senders):
            sender.stop()

    def _check_stopped(self) -> None:
        if self._stopped.is_set():
            raise InterruptedError("the upload was stopped")

    def upload(
        self,
        path: Path,
        options: UploadOptions | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> dict[str, Any]:
        """Upload `path` (resuming an interrupted upload of it) and return the File object."""
        options = options or UploadOptions()
        if options.parallel < 1:
            raise ValueError("parallel must be at least 1")
        self._check_stopped()
        identity = FileIdentity.of(path)
        name = options.name or path.name
        key = StateStore.key(self._server, self._app_id, self._consumer_id, options.folder_id, path)
        progress = UploadProgress(name=name, total_bytes=identity.size)
        notify = on_progress or (lambda _p: None)

        found = self._resume(key, identity)
        if isinstance(found, SessionInfo):
            info = found
            if info.success and info.file_id:
                return self._finished_earlier(key, info.file_id)
        else:
            info = self._start(key, identity, name, options, found)

        size, part_size = identity.size, info.part_size
        count = part_count(size, part_size)
        # A direct session's parts still needed are what the server says (it asks the store,
        # so a resumed upload sends only those); None: a proxied session, or an older server.
        needed = self._api.direct_parts(info.id) if info.direct and options.direct else None
        direct = needed is not None
        if needed is not None:
            have = set(range(count)) - {int(p["part_number"]) for p in needed}
        else:
            have = set(info.uploaded_parts)
        progress.resumed_parts = len(have)
        progress.session_id = info.id
        progress.parts_total = count
        progress.parts_done = len(have)
        progress.done_bytes = sum(part_range(size, part_size, n)[1] for n in have)
        progress.event = "session"
        notify(progress)

        algorithm = choose(options.digest, info.digest_algorithms)
        crcs: dict[int, int] = {}
        missing = [n for n in range(count) if n not in have]
        stop_hashing = threading.Event()
        whole = (
            _Thread(_whole_file_digest, Path(identity.path), stop_hashing)
            if algorithm == "sha"
            else None
        )
        try:
            self._send_parts(
                info, identity, missing, options.parallel, progress, notify, algorithm, crcs, direct
            )
            self._check_stopped()  # before the whole file is read for its digest
            digest = whole.result() if whole is not None else None
        finally:
            stop_hashing.set()  # a failed upload's whole-file hashing ends at its next block
        if algorithm == "crc32c":
            digest = _combined_crc(identity, part_size, crcs)
        if FileIdentity.of(path) != identity:
            raise FileChanged(f"{path} changed during the upload; run again to start over")
        self._check_stopped()
        # A direct session's finish checks the store's parts before assembling them.
        file = self._api.finish(info.id, digest)
        # Stopped meanwhile: whoever stopped it will not hear of the file, so the record stays
        # for the next run to find it (_finished_earlier) instead of a create refused (409).
        self._check_stopped()
        self._forget(key)
        progress.event = "done"
        progress.detail = {"file_id": file.get("id")}
        notify(progress)
        return file

    def _finished_earlier(self, key: str, file_id: str) -> dict[str, Any]:
        """The file an earlier run's finish made (its answer was lost). The record goes only
        once the file is in hand: dropped earlier, a failed lookup would leave the next run a
        fresh create that its own file's name refuses (409)."""
        try:
            file = self._api.get_file(file_id)
        except ApiError as exc:
            if exc.status == 404:  # the file was deleted since: the next run starts over
                self._forget(key)
            raise
        self._forget(key)
        return file

    def _resume(self, key: str, identity: FileIdentity) -> SessionInfo | UploadRecord | None:
        """The session of an earlier, interrupted upload of this very file if still usable; or
        the record of a create that may not have happened; or None."""
        if self._state is None:
            return None
        record = self._state.load(key)
        if record is None or record.server != self._server:
            return None
        if record.identity != identity:
            # The file changed since: its old parts are worthless.
            old_session = record.session_id or self._unheard_create(record)
            if old_session is not None:
                self._abort_quietly(old_session)
            self._state.delete(key)
            return None
        if record.session_id is None:
            return record
        try:
            return self._api.get_session(record.session_id)
        except ApiError as exc:
            if exc.status == 404:
                self._state.delete(key)
                return None
            raise

    def _unheard_create(self, record: UploadRecord) -> str | None:
        """The session made by a create whose answer never came (the record has its key but no
        session id), found by sending that create again with the same key: left alone, it would
        hold the name against this upload's new start (409). If the first create never arrived,
        this makes the session, to be aborted at once; None if the server refuses it."""
        try:
            new = NewSession(
                record.name,
                record.folder_id,
                record.identity.size,
                idempotency_key=record.idempotency_key,
            )
            return self._api.create_session(new)
        except ApiError as exc:
            if exc.status >= 500:
                raise
            return None  # e.g. the name is held by someone else: nothing of ours to abort

    def _start(
        self,
        key: str,
        identity: FileIdentity,
        name: str,
        options: UploadOptions,
        record: UploadRecord | None,
    ) -> SessionInfo:
        fresh = record is None
        if record is None:
            record = UploadRecord(
                self._server,
                self._app_id,
                self._consumer_id,
                options.folder_id,
                name,
                identity,
                os.urandom(16).hex(),
            )
            self._save(key, record)
        deliveries = self._api.deliveries
        try:
            session_id = self._create(name, identity, options, record.idempotency_key)
        except Exception as exc:
            # Refused (4xx), or no try of it can have reached the server: no session exists,
            # so a record would only make the next run look for one. A 5xx or a try whose
            # answer was lost keeps it.
            refused = isinstance(exc, ApiError) and exc.status < 500
            failed = refused or (is_transport_error(exc) and self._api.deliveries == deliveries)
            if fresh and failed:
                self._forget(key)
            raise
        # The session's id is recorded (two fsyncs) while its GET is on the way: the record
        # need only be on disk before the first part, not before the GET.
        saving = _Thread(self._save, key, record._replace(session_id=session_id))
        try:
            return self._api.get_session(session_id)
        finally:
            saving.result()

    def _create(
        self, name: str, identity: FileIdentity, options: UploadOptions, idempotency_key: str
    ) -> str:
        """A session in direct mode if asked and the service's store takes direct parts, else
        proxied (an older server ignores the mode: proxied too)."""
        new = NewSession(
            name,
            options.folder_id,
            identity.size,
            options.drive_id,
            options.part_size_hint,
            idempotency_key,
            upload_mode="auto" if options.direct else "proxied",
        )
        return self._api.create_session(new)

    def _save(self, key: str, record: UploadRecord) -> None:
        if self._state is not None:
            self._state.save(key, record)

    def _send_parts(
        self,
        info: SessionInfo,
        identity: FileIdentity,
        missing: list[int],
        parallel: int,
        progress: UploadProgress,
        notify: ProgressCallback,
        algorithm: str | None,
        crcs: dict[int, int],
        direct: bool = False,
    ) -> None:
        """Send the missing parts through partway, or (direct) straight into the object store,
        each over a URL signed for its size and MD5. Worker threads share the part numbers;
        the first failure, or a stop, ends the rest: none is retried, and parts still in
        flight after STOP_GRACE are left to end in the background."""
        pending = deque(missing)  # popleft is atomic: the worker threads share it
        fd = os.open(identity.path, os.O_RDONLY)
        api = self._api
        sender: PartSender | DirectSender
        if direct:
            from .direct import DirectSender  # httpx: only for an object store's URLs

            sender = DirectSender(api.retry, api.on_retry)
        else:
            sender = PartSender(api.base_url, api.credentials, api.retry, api.on_retry)
        self._senders.append(sender)
        if self._stopped.is_set():
            sender.stop()
        workers = min(parallel, max(1, len(missing)))
        lock = threading.Lock()  # progress is reported from the worker threads

        left = threading.Event()  # the upload returned while parts were still in flight

        def sent(number: int, length: int, crc: int | None) -> None:
            with lock:
                if left.is_set():
                    return  # nobody is listening any more
                if crc is not None:
                    crcs[number] = crc
                progress.parts_done += 1
                progress.done_bytes += length
                progress.event = "part"
                progress.detail = {"part": number}
                notify(progress)  # a failure (the progress output closed) fails the upload

        go = threading.Event()  # set once every worker is listed (or the sending stopped)

        def worker() -> None:
            go.wait()
            if sender.stopped:
                return  # never started: it must not touch the file the uploader may close
            try:
                if isinstance(sender, PartSender):
                    send_in_turn(
                        sender,
                        pending,
                        functools.partial(part_range, identity.size, info.part_size),
                        PartJob(fd, info.part_size, info.id, algorithm),
                        sent,
                    )
                else:
                    try:
                        _send_direct(sender, api, info, (fd, identity.size), pending, sent)
                    finally:
                        api.release_thread()  # this worker's connection for its claims
            except FileShrank:
                sender.stop()
                shrank = f"{identity.path} is shorter than when the upload began"
                raise FileChanged(shrank) from None
            except BaseException:
                sender.stop()  # the others end their parts in flight and take no more
                raise

        threads: list[_Thread[None]] = []
        interrupted = False
        try:
            for _ in range(workers):
                threads.append(_Thread(worker, name="partway-part"))
            go.set()
            for thread in threads:
                # The first failure stops the sender, and a stop from another thread the
                # upload: either ends this wait, and the parts in flight get STOP_GRACE below.
                while not thread.join(0.1) and not (self._stopped.is_set() or sender.stopped):
                    pass
        except BaseException:  # Ctrl-C
            interrupted = True
            raise
        finally:
            cut_short = interrupted or self._stopped.is_set() or sender.stopped
            sender.stop()  # no retries and no new parts from here on
            go.set()
            self._senders.remove(sender)
            # The file (workers read it) and the connections are closed once every worker has
            # ended; started first, so that a second Ctrl-C below cannot leave them open.
            closer = _Thread(_close_after, threads, sender, fd, name="partway-closer")
            if not closer.join(STOP_GRACE if cut_short else None):
                # Parts stuck in a store that stopped answering end at their socket timeout,
                # unheard: upload() has returned.
                with lock:
                    left.set()
        failure = _first_failure(threads)
        if failure is not None and not isinstance(failure, InterruptedError):
            raise failure  # a worker's own failure, even if a stop came after it
        self._check_stopped()
        if failure is not None:
            raise failure

    def _abort_quietly(self, session_id: str) -> None:
        try:
            self._api.abort(session_id)
        except ApiError as exc:
            if exc.status not in (404, 422):
                raise

    def _forget(self, key: str) -> None:
        if self._state is not None:
            self._state.delete(key)


def _send_direct(
    sender: DirectSender,
    api: SyncApi,
    info: SessionInfo,
    file: tuple[int, int],
    pending: deque[int],
    sent: Callable[[int, int, int | None], None],
) -> None:
    """A worker thread's share of a direct session's parts: read and checksum each, claim its
    URL, PUT it into the store. `file`: its descriptor and size."""
    fd, size = file
    buffer = part_buffer(info.part_size)
    while not sender.stopped:
        try:
            number = pending.popleft()
        except IndexError:
            return
        start, length = part_range(size, info.part_size, number)
        got = sender.read_part(fd, buffer, start, length)
        (ticket,) = api.claimed_direct_parts(info.id, [got.claim(number)], sender.stopping)
        sent(number, length, _sent_direct(sender, got, ticket))
