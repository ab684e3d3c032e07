"""Who is calling: the services of the app, and the caller's tenant and storage service."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from .. import fair_share
from ..domain.errors import ClientGone, InvalidInput
from ..domain.models import Tenant
from ..services import ServerServices as Services
from ..wire import APP_ID, CONSUMER_ID, SERVICE_ID
from .cycle_wrappers import CLIENT_GONE_EXTENSION


@dataclass(frozen=True)
class Caller:
    services: Services
    tenant: Tenant
    service_id: str


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def bearer_token(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() == "bearer":
        return token.strip() or None
    return header.strip()


def refuse_query_pass_through(request: Request) -> None:
    """partway has no downstream to forward query pass_through to: refused, not dropped."""
    for key in request.query_params:
        if key == "pass_through" or key.startswith("pass_through["):
            raise InvalidInput(f"query parameter {key} is not supported: no downstream connector")


async def caller(request: Request) -> Caller:
    services = services_of(request)
    tenant = await services.keys.authenticate(
        bearer_token(request.headers.get("authorization")),
        request.headers.get(APP_ID),
        request.headers.get(CONSUMER_ID),
    )
    refuse_query_pass_through(request)
    await fair_share.admit(tenant)
    gone = request.scope.get("extensions", {}).get(CLIENT_GONE_EXTENSION)
    if gone is not None and gone():
        # Seen for requests without a large body (whose bytes wait unread until the turn, so
        # that the connection's end cannot be seen before): creates, finishes, reads.
        raise ClientGone("the client left while its request waited for its turn")
    service_id = request.headers.get(SERVICE_ID) or services.settings.default_service
    services.uploads.storage(service_id)
    return Caller(services, tenant, service_id)
