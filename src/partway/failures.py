"""What a command-line failure looks like to a person: one line naming the cause and what to do,
and an exit code from one documented table. Tracebacks are for `--debug` only."""

from __future__ import annotations

import errno
import socket
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where a transport error is explained: every command imports this
    import httpx

# Exit codes (README, "Exit codes"): scripts can tell "fix the command" from "try later".
EXIT_OK = 0
EXIT_FAILED = 1  # the work failed: the server refused, a file changed, a path or port is taken
EXIT_USAGE = 2  # the command, a setting or a URL is wrong
EXIT_UNREACHABLE = 3  # no partway server answered at the given address
EXIT_INTERRUPTED = 130


class CliError(Exception):
    """A failure already phrased for the person at the terminal."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def root_cause(exc: BaseException) -> BaseException:
    """The innermost exception of a chain (httpx wraps httpcore, which wraps the OSError)."""
    seen = {id(exc)}
    while (inner := exc.__cause__ or exc.__context__) is not None and id(inner) not in seen:
        seen.add(id(inner))
        exc = inner
    return exc


def is_unknown_host(exc: BaseException) -> bool:
    return isinstance(root_cause(exc), socket.gaierror) or "Name or service not known" in str(exc)


def transport_reason(exc: httpx.TransportError) -> str:
    """A few words for what went wrong on the wire."""
    import httpx

    cause = root_cause(exc)
    if is_unknown_host(exc):
        return "unknown host"
    if isinstance(cause, ConnectionRefusedError) or "refused" in str(exc).lower():
        return "connection refused"
    if isinstance(exc, httpx.TimeoutException):
        return "no answer in time"
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError):
        return "no HTTP answer"
    return str(exc) or type(exc).__name__


def unreachable(server: str, exc: httpx.TransportError) -> CliError:
    reason = transport_reason(exc)
    if reason == "no HTTP answer":
        hint = "is that partway's address and port? check --server / PARTWAY_SERVER"
    elif reason == "unknown host":
        hint = "check the host name in --server / PARTWAY_SERVER"
    else:
        hint = "is `partway serve` running there? check --server / PARTWAY_SERVER"
    return CliError(f"cannot reach {server} ({reason}): {hint}", EXIT_UNREACHABLE)


def explain_os_error(exc: OSError) -> str:
    where = f" {exc.filename}" if exc.filename else ""
    what = exc.strerror or str(exc)
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"cannot write{where} ({what}): fix its permissions or choose another path"
    if exc.errno == errno.ENOSPC:
        return f"no space left on the device of{where}: free some space and run again"
    return f"{what}{':' + where if where else ''}"
