"""Domain errors. Each front maps each class to its own answer in one table (the Apideck front's:
http/errors.py)."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error the service reports to a client."""

    def __init__(self, message: str, detail: str | dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail if detail is not None else message


class Unauthorized(DomainError):
    """Missing, unknown or revoked API key, or an app id the key does not belong to."""


class MissingHeader(DomainError):
    """A tenancy header the API requires was not sent."""


class InvalidInput(DomainError):
    """Malformed or out-of-range input."""


class DigestMismatch(InvalidInput):
    """The bytes received do not match the digest the client sent."""


class StoredChecksumMismatch(DigestMismatch):
    """The store's own checksum of the assembled file is not the one partway combined from the
    parts it verified: the store holds other bytes than partway received."""


class NotFound(DomainError):
    """Unknown, expired or foreign entity; a foreign one looks exactly like an unknown one."""


class InvalidState(DomainError):
    """The request is well-formed but the session is not in a state that allows it."""


class WrongPartSize(InvalidState):
    """A part is not the size its number requires."""


class NameTaken(DomainError):
    """The target folder already holds an entry (or an open upload) with that name."""


class PayloadTooLarge(DomainError):
    """A request body is larger than the configured limit."""


class QuotaExceeded(DomainError):
    """The consumer would exceed its storage quota."""


class TooManySessions(QuotaExceeded):
    """The consumer has as many open sessions as it may."""


class InsufficientStorage(DomainError):
    """The storage backend ran out of space."""


class Busy(DomainError):
    """Another request holds the same part or session for longer than we are willing to wait."""


class StorageUnavailable(DomainError):
    """The storage backend failed or cannot be reached; the request may be retried."""


class RangeNotSatisfiable(DomainError):
    """A download range lies outside the file."""


class UnsupportedFilter(InvalidInput):
    """A filter the spec offers that partway cannot apply: refused by name, never ignored."""


class LinkRefused(DomainError):
    """A shared or signed link that no longer works (expired, used up)."""


class PasswordRequired(DomainError):
    """A shared link's password is missing or wrong."""


class OperationUnsupported(InvalidInput):
    """An operation of the API partway does not perform (yet): said so, not a bare 404/405."""


class BodyCut(DomainError):
    """A request body stopped before its end; nothing of it was kept. `reason` says why
    (idle, slow, client_gone)."""

    reason = "client_gone"


class BodyTimedOut(BodyCut):
    """The body was silent too long, or slower than the minimum rate: the client may still be
    sending, so the answer closes the connection."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{message}; nothing of the request was kept, send it again")
        self.reason = reason


class ClientGone(BodyCut):
    """The client closed the connection before its body was complete."""
