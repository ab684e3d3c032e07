"""Point the official `apideck-unify` SDK at partway without passing `server_url` on every call.

The SDK sends create/get/upload/finish to upload.apideck.com whatever the client's server_url
says; these httpx clients rewrite both Apideck hosts to partway's base URL:

    sdk = Apideck(api_key=..., app_id=..., consumer_id=..., server_url=BASE,
                  client=partway_http_client(BASE))
"""

from __future__ import annotations

from typing import Any

import httpx

from ..wire import APIDECK_HOSTS


def _rewrite(request: httpx.Request, base: httpx.URL) -> None:
    if request.url.host not in APIDECK_HOSTS:
        return
    prefix = base.path.rstrip("/")
    request.url = request.url.copy_with(
        scheme=base.scheme, host=base.host, port=base.port, path=prefix + request.url.path
    )
    request.headers["host"] = base.netloc.decode("ascii")


class RewritingTransport(httpx.BaseTransport):
    def __init__(self, base_url: str, inner: httpx.BaseTransport | None = None) -> None:
        self._base = httpx.URL(base_url)
        self._inner = inner or httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        _rewrite(request, self._base)
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


class AsyncRewritingTransport(httpx.AsyncBaseTransport):
    def __init__(self, base_url: str, inner: httpx.AsyncBaseTransport | None = None) -> None:
        self._base = httpx.URL(base_url)
        self._inner = inner or httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        _rewrite(request, self._base)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def partway_http_client(base_url: str, **kwargs: Any) -> httpx.Client:
    """A sync httpx client for `Apideck(client=...)` that sends Apideck hosts to partway."""
    kwargs.setdefault("follow_redirects", True)
    return httpx.Client(transport=RewritingTransport(base_url), **kwargs)


def partway_async_http_client(base_url: str, **kwargs: Any) -> httpx.AsyncClient:
    """The async twin, for `Apideck(async_client=...)`."""
    kwargs.setdefault("follow_redirects", True)
    return httpx.AsyncClient(transport=AsyncRewritingTransport(base_url), **kwargs)
