"""An httpx client that drives the real FastAPI app in process, through httpx's own ASGI
transport (httpx.ASGITransport is async-only; a blocking portal runs it for sync tests)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import anyio.from_thread
import httpx

from gitward.http.app import create_app
from gitward.services.context import Context


class _PortalTransport(httpx.BaseTransport):
    def __init__(self, app: object, portal: anyio.from_thread.BlockingPortal) -> None:
        self._inner = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))  # type: ignore[arg-type]
        self._portal = portal

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        async def send() -> httpx.Response:
            body = request.read()
            response = await self._inner.handle_async_request(
                httpx.Request(request.method, request.url, headers=request.headers, content=body)
            )
            content = await response.aread()
            return httpx.Response(response.status_code, headers=response.headers, content=content)

        return self._portal.call(send)


@contextlib.contextmanager
def app_client(ctx: Context, base_url: str = "http://localhost:8080") -> Iterator[httpx.Client]:
    app = create_app(ctx)
    with anyio.from_thread.start_blocking_portal() as portal:
        transport = _PortalTransport(app, portal)
        with httpx.Client(transport=transport, base_url=base_url, follow_redirects=False) as client:
            yield client
