"""Admission: may this consumer open this upload, or store these bytes? Quotas, open-session
limits and size caps are decided here, once. The metadata store only makes the check of a new
session atomic with its insertion (OpenLimits in, the consumer's Standing out on a refusal)."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import InvalidInput, PayloadTooLarge, QuotaExceeded, TooManySessions
from .models import Tenant, UploadSession
from .repositories import OpenLimits, QuotaRepository, Standing


@dataclass(frozen=True)
class Limits:
    """Operator-configured limits (None: unlimited)."""

    default_quota: int | None = None
    max_open_sessions: int | None = None
    max_file_size: int | None = None
    max_small_upload: int | None = None

    @property
    def open_limits(self) -> OpenLimits:
        return OpenLimits(self.default_quota, self.max_open_sessions)


class Admission:
    def __init__(self, repo: QuotaRepository, limits: Limits) -> None:
        self._repo = repo
        self.limits = limits

    def check_declared_size(self, size: int | None) -> None:
        """Before anything is created: a declared size within the largest file allowed."""
        if size is None:
            return
        if size < 0:
            raise InvalidInput("size must not be negative")
        limit = self.limits.max_file_size
        if limit is not None and size > limit:
            raise InvalidInput(f"size {size} exceeds the maximum file size of {limit} bytes")

    def check_single_request(self, length: int) -> None:
        """A whole file in one request is capped lower than an upload session."""
        limit = self.limits.max_small_upload
        if limit is not None and length > limit:
            raise PayloadTooLarge(
                f"a single-request upload takes at most {limit} bytes; "
                "use an upload session for larger files"
            )

    def refusal(self, standing: Standing, wanted: int) -> QuotaExceeded:
        """Why the store refused a new session reserving `wanted` bytes."""
        most = self.limits.max_open_sessions
        if most is not None and standing.open_sessions >= most:
            return TooManySessions(
                f"this consumer already has {standing.open_sessions} open upload sessions, the "
                "most allowed; finish or abort some first"
            )
        return QuotaExceeded(
            f"storage quota exceeded: {standing.used_bytes} of {standing.quota} bytes in use or "
            f"reserved, this upload needs {wanted} more"
        )

    async def check_range(
        self, session: UploadSession, start: int, wanted: int, label: str
    ) -> None:
        """Declared sizes were reserved at create; one of unknown size is checked per range
        (a range replacing another counts once)."""
        if session.size is not None:
            return
        quota = await self._repo.quota(session.tenant, self.limits.default_quota)
        if quota is None:
            return
        used = await self._repo.usage(session.tenant)
        replaced = sum(r.size for r in session.ranges if r.start == start)
        if used - replaced + wanted > quota:
            raise QuotaExceeded(
                f"storage quota exceeded: {used} of {quota} bytes in use or reserved, "
                f"{label} needs {wanted} more"
            )

    async def set_quota(self, tenant: Tenant, max_bytes: int | None) -> None:
        """A consumer's own quota; None: back to the default."""
        if max_bytes is not None and max_bytes < 0:
            raise InvalidInput("a quota must not be negative")
        await self._repo.set_quota(tenant, max_bytes)

    async def standing(self, tenant: Tenant) -> tuple[int | None, int]:
        """(the consumer's quota, None if unlimited; bytes it uses or reserves)."""
        quota = await self._repo.quota(tenant, self.limits.default_quota)
        return quota, await self._repo.usage(tenant)
