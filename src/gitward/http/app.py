"""The HTTP transport: ``create_app(ctx)`` builds the FastAPI application.

Only this package imports FastAPI/Starlette. The API lives under ``/api/v1``, its OpenAPI
schema at ``/api/v1/openapi.json`` and its docs at ``/api/v1/docs``; the web UI's pages
everywhere else (http/web). Creating the app loads the managed-CA secret: a deployment
without one (PostgreSQL without ca_secret) still serves the web UI and the admin API, with
issuing disabled and saying why (``app.state.issuing_disabled``), instead of failing on
the first request.

Run it with uvicorn (``gitward serve`` does): ``uvicorn.run(create_app(ctx), ...)``. The
handlers call the synchronous services in the thread pool.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, FastAPI

from gitward import __version__
from gitward.errors import ConfigurationError
from gitward.http import errors, monitoring
from gitward.http.api import certificates, connector
from gitward.http.api.connector import MAX_WEBHOOK_BYTES
from gitward.http.guard import BodyLimit, SafetyNet
from gitward.services.context import Context
from gitward.services.issuing import Issuer

API_PREFIX = "/api/v1"


def create_app(ctx: Context, *, ssh_listening: Callable[[], bool] | None = None) -> FastAPI:
    """``ssh_listening``: whether this process's SSH listener accepts connections, for
    /readyz (None: not ready, there is none)."""
    issuer, disabled = _issuer(ctx)
    app = FastAPI(
        title="Gitward API",
        version=__version__,
        description="The admin API of Gitward (GitHub's paths and field names where GitHub "
        "has the same thing) and self-service SSH certificates.",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
    )
    app.state.issuer = issuer
    app.state.issuing_disabled = disabled
    app.state.ctx = ctx
    api = APIRouter(prefix=API_PREFIX)
    api.include_router(certificates.router)
    api.include_router(connector.router)
    _include_admin_api(api)
    app.include_router(api)
    monitoring.install(app, ctx, ssh_listening)
    errors.install(app)
    _install_web(app)
    app.add_middleware(
        BodyLimit,
        default_cap=ctx.settings.http_max_body_bytes,
        route_caps=((f"{API_PREFIX}/connector/repositories/", "/sync", MAX_WEBHOOK_BYTES),),
        header_cap=ctx.settings.http_max_header_bytes,
    )
    app.add_middleware(SafetyNet)  # outermost of ours: added last
    return app


def _issuer(ctx: Context) -> tuple[Issuer | None, str | None]:
    """The issuer, or None and the reason (no CA secret): only issuing is then off."""
    try:
        return Issuer(ctx), None
    except ConfigurationError as exc:
        return None, f"issuing is disabled: {exc.message}"


def _include_admin_api(api: APIRouter) -> None:
    from gitward.http.api import admin, connector_admin, keys, orgs, repos

    for module in (keys, repos, orgs, admin, connector_admin):
        api.include_router(module.router)


def _install_web(app: FastAPI) -> None:
    from gitward.http.web import site

    site.install(app)
