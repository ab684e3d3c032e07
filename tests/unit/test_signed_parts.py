"""The part URLs partway serves itself for direct sessions on local disk: what the signature
covers and when it stops working, on a clock the test moves."""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from partway.domain.direct import PartClaim
from partway.domain.errors import LinkRefused, NotFound
from partway.domain.models import ByteRange, Tenant
from partway.domain.signed_parts import SignedParts
from partway.domain.signing import Signer

from .factories import NOW, session


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def grant(url: str) -> tuple[str, int, Tenant, str, str, str]:
    where = urlsplit(url)
    _, _, _, session_id, number = where.path.split("/")
    q = {k: v[0] for k, v in parse_qs(where.query).items()}
    tenant = Tenant(q["app_id"], q["consumer_id"])
    return session_id, int(number), tenant, q["expires"], q.get("crc32c", ""), q["signature"]


def test_a_part_url_works_until_it_expires_and_only_as_signed() -> None:
    clock = Clock()
    parts = SignedParts(Signer(b"k" * 32), clock)
    owner = session(5)
    ticket = parts.ticket(
        owner, 2, ByteRange(0, 5), timedelta(minutes=10), PartClaim(0, None, "0a0b0c0d")
    )
    assert ticket.url.startswith(
        f"/signed/parts/{owner.id}/2?"
    ) and ticket.expires == NOW + timedelta(minutes=10)
    session_id, number, tenant, expires, crc, tag = grant(ticket.url)
    assert crc == "0a0b0c0d"
    parts.check(session_id, number, tenant, expires, crc, tag)  # valid
    for changed in (
        (session_id, number + 1, tenant, expires, crc, tag),
        (session_id, number, Tenant(tenant.app_id, "mallory"), expires, crc, tag),
        (session_id, number, tenant, str(int(expires) + 1), crc, tag),
        (session_id, number, tenant, expires, "", tag),  # the claimed CRC dropped
        (session_id, number, tenant, "soon", crc, tag),
    ):
        with pytest.raises(NotFound):
            parts.check(*changed)
    clock.now += timedelta(minutes=10)
    with pytest.raises(LinkRefused):
        parts.check(session_id, number, tenant, expires, crc, tag)
