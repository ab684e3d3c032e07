"""Direct parts on a store clients cannot reach themselves (local disk): partway serves the
part URLs itself, as capabilities. A URL names the session, the part, the tenant, an expiry and
(when the client claimed one) the part's CRC32C, all under an HMAC of the server's secret; it
needs no credentials, writes only that part of that session until it expires, and a claimed
CRC32C is checked as the bytes stream in, as a proxied part's digest is.

The bytes do pass through partway (it is the store's only door), but the client's flow is the
same as on S3 or Azure: one signed URL per part, handed out to whoever should write it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from .direct import PartClaim, RangeTicket
from .errors import LinkRefused, NotFound
from .models import ByteRange, Tenant, UploadSession
from .ports import Clock
from .signing import Signer

PURPOSE = "direct-part"
PATH = "/signed/parts"


def _signed(session_id: str, tenant: Tenant, number: int, expires: str, crc: str) -> list[str]:
    """The purpose and the fields a part URL's signature covers, in order."""
    return [PURPOSE, session_id, tenant.app_id, tenant.consumer_id, str(number), expires, crc]


class SignedParts:
    def __init__(self, signer: Signer, clock: Clock) -> None:
        self._signer = signer
        self._clock = clock

    def _tag(self, session_id: str, tenant: Tenant, number: int, expires: str, crc: str) -> str:
        return self._signer.sign(*_signed(session_id, tenant, number, expires, crc))

    def ticket(
        self,
        session: UploadSession,
        number: int,
        part: ByteRange,
        ttl: timedelta,
        claim: PartClaim | None = None,
    ) -> RangeTicket:
        """A URL relative to partway's own (the front that answers makes it absolute)."""
        expires = int((self._clock() + ttl).timestamp())
        crc = (claim.crc32c if claim is not None else None) or ""
        tag = self._tag(session.id, session.tenant, number, str(expires), crc)
        query = {
            "app_id": session.tenant.app_id,
            "consumer_id": session.tenant.consumer_id,
            "expires": str(expires),
            **({"crc32c": crc} if crc else {}),
            "signature": tag,
        }
        url = f"{PATH}/{session.id}/{number}?{urlencode(query)}"
        return RangeTicket(part.start, part.size, url, {}, datetime.fromtimestamp(expires, UTC))

    def check(
        self,
        session_id: str,
        number: int,
        tenant: Tenant,
        expires: str,
        crc: str,
        tag: str,
    ) -> None:
        """NotFound for a URL this server did not sign (nothing said about why), LinkRefused
        (410) for one of its own that has expired."""
        if not (expires.isascii() and expires.isdigit() and len(expires) <= 12):
            raise NotFound("this part URL is not valid")
        if not self._signer.verify(tag, *_signed(session_id, tenant, number, expires, crc)):
            raise NotFound("this part URL is not valid")
        if int(expires) <= self._clock().timestamp():
            raise LinkRefused("this part URL has expired")
